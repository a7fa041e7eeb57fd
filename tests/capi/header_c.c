/* This file tests that homing.h compiles as strict C99 (-std=c99 -Wall
 * -Wextra -pedantic -Werror), twice (the include guard), and links. */
#include <homing/homing.h>
#include <homing/homing.h>

#include <string.h>

/* The deprecation macro must be usable on a declaration. */
HOMING_DEPRECATED_FOR(0.1, homing_version) const char *old_version(void);

int main(void) {
  homing_status status = HOMING_OK;
  homing_log_cb log = NULL;
  homing_watch_cb watch = NULL;
  homing_timer_cb timer = NULL;
  homing_dns_cb dns = NULL;
  homing_lookup_cb lookup = NULL;
  homing_decision_cb decision = NULL;
  (void)log;
  (void)watch;
  (void)timer;
  (void)dns;
  (void)lookup;
  (void)decision;
  return status == HOMING_OK && HOMING_AT_LEAST_VERSION(0, 1, 0) &&
                 strcmp(homing_version(), HOMING_VERSION_STRING) == 0 &&
                 HOMING_NUL_TERMINATED == (size_t)-1
             ? 0
             : 1;
}
