/* Which member owns a key, and what moves when the membership changes. */
#include <homing/homing.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  const char *members[] = {"server-0.server-headless:8081",
                           "server-1.server-headless:8081",
                           "server-2.server-headless:8081"};
  homing_placement_t *placement = NULL;
  char *err = NULL;
  int strategy = -1;
  if (homing_placement_strategy_from_name("jump", &strategy) != HOMING_OK ||
      homing_placement_new(strategy, members, 3, &placement, &err) !=
          HOMING_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  printf("strategy %s over %zu members\n",
         homing_placement_strategy_name(homing_placement_strategy(placement)),
         homing_placement_member_count(placement));

  size_t index = 0;
  const char *owner = NULL;
  homing_placement_owner(placement, "123", HOMING_NUL_TERMINATED, &index, &owner);
  printf("client 123 -> member %zu, %s (key hash %016" PRIx64 ")\n", index,
         owner, homing_key_hash("123", 3));

  /* Scale out to four members: with jump hashing a key either stays or
   * moves to the new member. */
  const char *scaled[] = {members[0], members[1], members[2],
                          "server-3.server-headless:8081"};
  if (homing_placement_set_members(placement, scaled, 4, &err) != HOMING_OK) {
    return 1;
  }
  size_t moved_to = 0;
  homing_placement_owner(placement, "123", 3, &moved_to, NULL);
  if (moved_to != index && moved_to != 3) return 1;
  printf("after scale-out: member %zu, %s\n", moved_to,
         homing_placement_member(placement, moved_to));

  /* Invalid memberships are refused, and the old one stays. */
  const char *duplicate[] = {"a", "a"};
  if (homing_placement_set_members(placement, duplicate, 2, &err) !=
      HOMING_ERR_INVALID_ARGUMENT) {
    return 1;
  }
  printf("refused: %s\n", err);
  homing_free(err);
  if (homing_placement_member_count(placement) != 4) return 1;
  homing_placement_free(placement);
  return 0;
}
