"""The seed's "Verification Commands" 1-7, run against a LocalCluster.

Each step prints the seed's command, what homing's cluster was asked
instead, the answer, and a verdict per check (PASS/FAIL). `run_all()` runs
the seven in order (steps 5-7 look at what steps 3-4 did); `scale_demo()`
changes membership live and shows misdirect recovery. The system tests call
the same functions, so the demo and the tests check the same things.

Standard library only (Python 3.11).
"""

import dataclasses
import json
import re
import time

from local_cluster import (HEADLESS_NAME, PROXY_NAME, SERVICE_NAME, ClusterError,
                           http_get, parse_stats_text, server_name)

CLIENT_ID = "123"
HOSTPORT = re.compile(r"^server-(\d+)\." + re.escape(HEADLESS_NAME) + r":(\d+)$")
DNS_CACHE = "dns_cache.dynamic_forward_proxy_cache."


@dataclasses.dataclass
class StepResult:
    number: int
    title: str
    seed: list        # the seed's commands, verbatim
    exchanges: list   # [(request, answer)], multi-line text allowed
    checks: list      # [(passed, what)]

    @property
    def ok(self):
        return bool(self.checks) and all(passed for passed, _ in self.checks)

    def render(self):
        def block(label, text):
            lines = str(text).splitlines() or [""]
            return [f"{label:<9}{lines[0]}"] + [" " * 9 + line for line in lines[1:]]

        title = f"== {self.number}. {self.title} "
        out = [title + "=" * max(3, 78 - len(title))]
        for command in self.seed:
            out += block("seed:", "$ " + command)
        for request, answer in self.exchanges:
            out += block("request:", request)
            out += block("answer:", answer)
        for passed, what in self.checks:
            out += block("PASS" if passed else "FAIL", what)
        return "\n".join(out)


class Step:
    """Collects one step's exchanges and checks; an unexpected exception
    becomes a failed check instead of ending the run."""

    def __init__(self, number, title, seed):
        self.result = StepResult(number, title, list(seed), [], [])

    def exchange(self, request, answer):
        self.result.exchanges.append((request, answer))

    def check(self, passed, what):
        self.result.checks.append((bool(passed), what))
        return bool(passed)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, _traceback):
        if error is not None and isinstance(error, Exception):
            self.check(False, f"{kind.__name__}: {error}")
            return True
        return False


@dataclasses.dataclass
class Context:
    """What steps 3-4 did, for steps 5-7 to verify."""
    marks: dict                  # log sizes before step 3
    owner: int | None = None     # index of client 123's owner per /where
    owner_hostport: str = ""
    joins: int = 0               # /join?client_id=123 requests sent
    lines: int = 0               # requests sent through the proxy


def format_response(answer):
    return f"{answer.status} {answer.body}"


def owner_of(where_body):
    """The server index in a /where answer's hostport, or None."""
    try:
        match = HOSTPORT.match(json.loads(where_body).get("hostport", ""))
    except (ValueError, AttributeError):
        return None
    return int(match.group(1)) if match else None


def expected_join_body(owner, port, client_id):
    return json.dumps({"assigned": f"server-{owner}:{port}", "client_id": client_id,
                       "status": "ok"}, separators=(",", ":"))


def find_stat(stats, suffix):
    """The value of the one stat named `suffix` or ending in "." + suffix."""
    for name, value in stats.items():
        if name == suffix or name.endswith("." + suffix):
            return value
    return None


# --------------------------------------------------------------------------
# The seven steps


def step_pods(cluster, _context):
    """1. Check Pod Status and IPs: every process, its address, pid, probe."""
    with Step(1, "Check Pod Status and IPs",
              ["kubectl get pods -n poc-routing -o wide"]) as step:
        rows = [("NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP:PORT", "PID")]
        all_ready = True
        processes = cluster.processes()
        for process in processes:
            ready = process.running() and probe(cluster, process)
            all_ready &= ready
            age = f"{max(0, int(time.time() - process.started))}s"
            rows.append((process.name, "1/1" if ready else "0/1",
                         "Running" if process.running() else "Exited",
                         str(process.restarts), age, process.address,
                         str(process.pid)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        table = "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths))
                          .rstrip() for row in rows)
        step.exchange("the cluster's processes; READY = dnsmasq answers a query, "
                      "each server's /health\nis 200, the proxy's admin /ready is 200",
                      table)
        step.check(all_ready, f"{len(processes)} processes running and ready "
                              f"(proxy admin on {cluster.layout.admin_address})")
    return step.result


def probe(cluster, process):
    """Whether `process` answers: a DNS query, /ready, /health."""
    try:
        if process is cluster.dns:
            cluster.resolve(PROXY_NAME, 0.5)
            return True
        if process is cluster.proxy:
            return cluster.admin_get("/ready", 2.0).status == 200
        for index, server in cluster.servers.items():
            if server is process:
                return cluster.server_get(index, "/health").status == 200
    except (OSError, ClusterError):
        return False
    return True


def step_dns(cluster, _context):
    """2. Test DNS Resolution: the cluster DNS answers the pods' names."""
    seed = [f"kubectl run test-dns --image=busybox --rm -it --restart=Never -- "
            f"nslookup {server_name(i)}" for i in range(2)]
    with Step(2, "Test DNS Resolution", seed) as step:
        names = [server_name(i) for i in range(cluster.server_count)] + [SERVICE_NAME]
        records = cluster.dns_records(cluster.server_count)
        for name in names:
            answer = cluster.resolve(name)
            text = f"Server: {cluster.dns.address}\nName: {name}\n" + \
                "\n".join(f"Address: {ip}" for ip in answer.addresses)
            if not answer.addresses:
                text += f"\n** server can't find {name}: {answer.rcode}"
            step.exchange(f"nslookup {name} {cluster.dns.address}", text)
            expected = records[name]
            what = "every server" if name == SERVICE_NAME else name.split(".")[0]
            step.check(answer.addresses == sorted(expected, key=_ip_key),
                       f"{name} -> {' '.join(expected)} ({what})")
    return step.result


def _ip_key(ip):
    return tuple(int(part) for part in ip.split("."))


def step_internal(cluster, context):
    """3. Test Internal Routing: /where and /join through the proxy's
    cluster name, as a pod would."""
    seed_url = "http://envoy.poc-routing.svc.cluster.local:10000"
    with Step(3, "Test Internal Routing", [
            f'kubectl run test-pod --image=busybox --rm -it --restart=Never -- '
            f'wget -qO- "{seed_url}/where?client_id={CLIENT_ID}"',
            f'kubectl run test-pod --image=busybox --rm -it --restart=Never -- '
            f'wget -qO- "{seed_url}/join?client_id={CLIENT_ID}"']) as step:
        port = cluster.layout.proxy_port
        address = cluster.resolve(PROXY_NAME).addresses
        step.check(address == [cluster.layout.proxy_ip],
                   f"{PROXY_NAME} -> {cluster.layout.proxy_ip} (cluster DNS)")
        host = {"Host": f"{PROXY_NAME}:{port}"}
        url = f"http://{PROXY_NAME}:{port}"
        where = http_get(address[0], port, f"/where?client_id={CLIENT_ID}", host)
        context.lines += 1
        step.exchange(f'wget -qO- "{url}/where?client_id={CLIENT_ID}"  '
                      f"({PROXY_NAME} -> {address[0]})", format_response(where))
        owner = owner_of(where.body) if where.status == 200 else None
        shape_ok = where.status == 200 and _keys(where.body) == ["client_id", "hostport"] \
            and where.json()["client_id"] == CLIENT_ID and owner is not None \
            and owner < cluster.server_count
        step.check(shape_ok, '/where answers 200 {"client_id":"123","hostport":'
                             '"server-N.server-headless.poc-routing.svc.cluster.local:8081"}')
        if owner is None:
            return step.result
        context.owner = owner
        context.owner_hostport = where.json()["hostport"]
        direct = {i: cluster.server_get(i, f"/where?client_id={CLIENT_ID}").body
                  for i in range(cluster.server_count)}
        step.check(all(body == where.body for body in direct.values()),
                   f"every server's own /where names the same owner: server-{owner}")

        join = http_get(address[0], port, f"/join?client_id={CLIENT_ID}", host)
        context.joins += 1
        context.lines += 1
        step.exchange(f'wget -qO- "{url}/join?client_id={CLIENT_ID}"',
                      format_response(join))
        expected = expected_join_body(owner, cluster.layout.server_port, CLIENT_ID)
        step.check(join.status == 200 and join.body == expected,
                   f"/join reached the owner: 200 {expected}")
    return step.result


def _keys(body):
    try:
        return list(json.loads(body))
    except (ValueError, TypeError):
        return None


def step_external(cluster, context):
    """4. Test External Access: curl against the proxy's address."""
    with Step(4, "Test External Access", [
            "minikube service envoy -n poc-routing --url",
            f'curl "http://127.0.0.1:XXXXX/where?client_id={CLIENT_ID}"',
            f'curl -v "http://127.0.0.1:XXXXX/join?client_id={CLIENT_ID}"']) as step:
        layout = cluster.layout
        base = f"http://{layout.proxy_address}"
        step.exchange("the proxy's URL (no port forwarding needed: it listens on "
                      "a loopback address)", base)
        where = http_get(layout.proxy_ip, layout.proxy_port, f"/where?client_id={CLIENT_ID}")
        context.lines += 1
        step.exchange(f'curl "{base}/where?client_id={CLIENT_ID}"', where.body)
        step.check(where.status == 200 and owner_of(where.body) == context.owner,
                   f"/where names server-{context.owner}, as in step 3")

        target = f"/join?client_id={CLIENT_ID}"
        join = http_get(layout.proxy_ip, layout.proxy_port, target,
                        {"User-Agent": "curl/7.88.1", "Accept": "*/*"})
        context.joins += 1
        context.lines += 1
        verbose = [f"> GET {target} HTTP/1.1", f"> Host: {layout.proxy_address}",
                   "> User-Agent: curl/7.88.1", "> Accept: */*", ">",
                   f"< HTTP/1.1 {join.status} {join.reason}"]
        verbose += [f"< {name}: {value}" for name, value in join.headers]
        verbose += ["<", join.body]
        step.exchange(f'curl -v "{base}{target}"', "\n".join(verbose))
        expected = expected_join_body(context.owner, layout.server_port, CLIENT_ID)
        step.check(join.status == 200 and join.body == expected,
                   f"/join answered by server-{context.owner}: {expected}")
    return step.result


def step_proxy_logs(cluster, context):
    """5. Check Envoy Logs: the Lua debug lines become homing's access log."""
    with Step(5, "Check Envoy Logs (homing-proxy's access log)", [
            'kubectl logs -n poc-routing deployment/envoy | grep "Lua:"']) as step:
        target = f"/join?client_id={CLIENT_ID}"
        lines = [line for line in cluster.access_log(context.marks, at_least=context.lines)
                 if line.target == target]
        step.exchange(f'grep "/join?client_id={CLIENT_ID}" {cluster.proxy.log_path}',
                      "\n".join(line.text for line in lines) or "(no lines)")
        step.check(len(lines) == context.joins,
                   f"one access-log line per /join: {context.joins}")
        owner_address = cluster.layout.server_address(context.owner or 0)
        for n, line in enumerate(lines, 1):
            fields = line.fields
            step.check(line.status == 200 and fields.get("key") == CLIENT_ID
                       and fields.get("upstream") == context.owner_hostport
                       and fields.get("addr") == owner_address,
                       f"line {n}: 200, key={CLIENT_ID}, upstream={context.owner_hostport}, "
                       f"addr={owner_address}")
        lookups = [line.fields.get("lookup") for line in lines]
        if len(lookups) >= 2:
            step.check(lookups[0] == "miss" and all(how == "hit" for how in lookups[1:]),
                       f"the first /join asked the resolver (lookup={lookups[0]}), "
                       f"the next came from the cache (lookup={lookups[1]}): the Lua "
                       f"script asked every time")
    return step.result


def step_server_logs(cluster, context):
    """6. Check Server Logs: only the owner logged the /join."""
    with Step(6, "Check Server Logs", [
            'kubectl logs -n poc-routing server-0 | grep "/join"',
            'kubectl logs -n poc-routing server-1 | grep "/join"']) as step:
        logged = {}
        for index in range(cluster.server_count):
            lines = cluster.join_lines(index, context.marks,
                                       at_least=context.joins if index == context.owner else 0)
            logged[index] = lines
            process = cluster.servers[index]
            step.exchange(f'grep "/join" {process.log_path}   (server-{index})',
                          "\n".join(line.text for line in lines) or "(no lines)")
        owner = context.owner
        assigned = f"server-{owner}:{cluster.layout.server_port}"
        mine = logged.get(owner, [])
        step.check(len(mine) == context.joins and all(
            line.client_id == CLIENT_ID and line.assigned == assigned for line in mine),
            f"server-{owner} logged {context.joins} x '/join: client_id={CLIENT_ID} "
            f"assigned to {assigned}'")
        others = [i for i, lines in logged.items() if i != owner and lines]
        step.check(not others, "no other server logged a /join" if not others else
                   f"other servers logged /join too: {others}")
    return step.result


def step_dns_cache_stats(cluster, context):
    """7. Verify DNS Cache: the admin's DNS cache and affinity cache stats."""
    layout = cluster.layout
    with Step(7, "Verify DNS Cache (Advanced)", [
            "kubectl port-forward -n poc-routing service/envoy 9901:9901",
            'curl "http://localhost:9901/stats" | grep dynamic_forward_proxy']) as step:
        # The DNS cache's stats; "dynamic_forward_proxy" alone also matches
        # the dynamic forward proxy cluster's connection pool.
        answer = cluster.admin_get("/stats?filter=dns_cache.dynamic_forward_proxy")
        step.exchange(f'curl "http://{layout.admin_address}/stats?filter='
                      f'dns_cache.dynamic_forward_proxy"', answer.body.rstrip() or "(empty)")
        dns = parse_stats_text(answer.body)
        affinity_answer = cluster.admin_get("/stats?filter=affinity")
        step.exchange(f'curl "http://{layout.admin_address}/stats?filter=affinity"',
                      affinity_answer.body.rstrip() or "(empty)")
        affinity = parse_stats_text(affinity_answer.body)

        loads = dns.get(DNS_CACHE + "cache_load")
        added = dns.get(DNS_CACHE + "host_added")
        queries = dns.get(DNS_CACHE + "dns_query_attempt")
        step.check(added == 1 and dns.get(DNS_CACHE + "num_hosts") == 1,
                   f"one host in the DNS cache ({context.owner_hostport}), "
                   f"host_added={added}")
        step.check(queries is not None and queries >= 1
                   and dns.get(DNS_CACHE + "dns_query_success", 0) >= 1,
                   f"the owner's name was looked up: dns_query_attempt={queries}")
        step.check(loads == context.joins and added == 1,
                   f"{loads} cache loads (one per /join), {added} host added: "
                   f"{context.joins - 1} served from the DNS cache")
        hits = find_stat(affinity, "cache_hit")
        misses = find_stat(affinity, "cache_miss")
        step.check(misses == 1 and hits == context.joins - 1,
                   f"affinity cache: cache_miss={misses} (the first /join), "
                   f"cache_hit={hits} (every later one)")
    return step.result


STEPS = (step_pods, step_dns, step_internal, step_external, step_proxy_logs,
         step_server_logs, step_dns_cache_stats)


def iter_steps(cluster):
    """Runs the seven steps in order, yielding each StepResult as it ends."""
    context = Context(marks=cluster.log_marks())
    for function in STEPS:
        yield function(cluster, context)


def run_all(cluster, say):
    """Runs and prints the seven steps; returns True when all passed."""
    failed = []
    for result in iter_steps(cluster):
        say("")
        say(result.render())
        if not result.ok:
            failed.append(result.number)
    say("")
    if failed:
        say(f"FAILED: step(s) {', '.join(map(str, failed))} of {len(STEPS)}")
    else:
        say(f"All {len(STEPS)} verification steps passed.")
    return not failed


# --------------------------------------------------------------------------
# Scaling, and the recovery from misdirected requests


DFP_POOL = "cluster.dynamic_forward_proxy_cluster.pool."


def scale_demo(cluster, servers, say, clients=200):
    """Scales the cluster to `servers` live and shows every client follow.

    Warms the proxy's caches with /join for `clients` client ids, scales,
    and sends the same /joins again (when scaling down, while the leaving
    servers still answer, then once more after they stopped). Each must land
    on the owner /where names; a client whose owner changed costs exactly
    one 421 from its old owner, which names the new one (so no new lookup),
    and one retry; the others none. Returns True when every check passed.
    """
    old = cluster.server_count
    port = cluster.layout.server_port
    ids = [f"client-{k}" for k in range(clients)]
    with Step(8, f"Scale the StatefulSet {old} -> {servers}, live",
              [f"kubectl scale statefulset server -n poc-routing --replicas={servers}"]) as step:
        before = {}
        for client in ids:
            join = cluster.get(f"/join?client_id={client}")
            before[client] = join.json().get("assigned") if join.status == 200 else None
        step.check(all(before.values()),
                   f"before: {clients} clients joined through the proxy (caches warm)")
        stats_before = cluster.stats()
        marks = cluster.log_marks()
        after = {}

        def rejoin():
            for client in ids:
                join = cluster.get(f"/join?client_id={client}")
                after[client] = join
        done = cluster.scale(servers, while_leaving=rejoin)
        if not after:
            rejoin()
        stats_after = cluster.stats()
        step.exchange(f"scale {old} -> {servers}", "\n".join(done))

        owners, wrong = {}, []  # per server-0's /where: every member agrees
        for client in ids:
            where = cluster.server_get(0, f"/where?client_id={client}")
            owners[client] = f"server-{owner_of(where.body)}:{port}"
            join = after[client]
            if join.status != 200 or join.json().get("assigned") != owners[client]:
                wrong.append(f"{client}: {join.status} {join.body} (owner {owners[client]})")
        moved = {c for c in ids if before[c] != owners[c]}
        flows = {}
        for client in moved:
            flows[(before[client], owners[client])] = flows.get(
                (before[client], owners[client]), 0) + 1
        summary = [f"{clients} clients, {len(moved)} with a new owner"]
        summary += [f"  {old_owner} -> {new_owner}: {count}"
                    for (old_owner, new_owner), count in sorted(flows.items())]
        step.exchange(f"the same {clients} /joins through the proxy"
                      + (" (during the grace period)" if servers < old else ""),
                      "\n".join(summary))
        step.check(not wrong, "every /join answered 200 by the owner /where names now"
                   + ("" if not wrong else ": " + "; ".join(wrong[:5])))

        misdirected = _delta(stats_before, stats_after, DFP_POOL + "upstream_rq_4xx")
        upstream = _delta(stats_before, stats_after, DFP_POOL + "upstream_rq_total")
        lookups = _delta(stats_before, stats_after, "affinity.lookup_attempt")
        redirects = _delta(stats_before, stats_after, "affinity.owner_redirect_accepted")
        joins = [line for line in cluster.access_log(marks, at_least=clients)
                 if line.target.startswith("/join?")]
        relooked = sorted(line.fields.get("key") for line in joins
                          if line.fields.get("lookup") == "miss")
        moved_line = next((line.text for line in joins
                           if line.fields.get("key") in moved), "")
        step.exchange(
            "admin /stats: 421s from the old owners, requests to owners, resolver "
            "lookups;\naccess log: a moved client",
            f"{DFP_POOL}upstream_rq_4xx: +{misdirected}\n"
            f"{DFP_POOL}upstream_rq_total: +{upstream}\n"
            f"affinity.lookup_attempt: +{lookups}\n"
            f"affinity.owner_redirect_accepted: +{redirects}\n{moved_line}")
        step.check(misdirected == len(moved) and upstream == clients + len(moved)
                   and redirects == len(moved) and lookups == 0 and not relooked,
                   f"one 421 naming the new owner (no new lookup) and one retry for "
                   f"each of the {len(moved)} moved clients, none for the other "
                   f"{clients - len(moved)}")
        if servers < old:
            again = [c for c in ids if cluster.get(f"/join?client_id={c}").status != 200]
            step.exchange(f"the same {clients} /joins after the leaving servers stopped",
                          f"{clients - len(again)} x 200")
            step.check(not again, "every client is served by its new owner"
                       + ("" if not again else f"; not: {again[:5]}"))
    say("")
    say(step.result.render())
    return step.result.ok


def _delta(before, after, suffix):
    """The growth of the one stat named `suffix` or ending in "." + suffix."""
    now = find_stat(after, suffix)
    return None if now is None else now - (find_stat(before, suffix) or 0)
