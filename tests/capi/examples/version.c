/* Version checks, status codes and error messages. */
#include <homing/homing.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  /* The library loaded at run time must be the one this program was built
   * against. */
  if (strcmp(homing_version(), HOMING_VERSION_STRING) != 0 ||
      homing_version_num() != HOMING_VERSION_NUM) {
    fprintf(stderr, "built for homing %s, running %s\n", HOMING_VERSION_STRING,
            homing_version());
    return 1;
  }
#if HOMING_AT_LEAST_VERSION(0, 1, 0)
  printf("homing %s\n", homing_version());
#endif

  /* A fallible call returns a status; the optional errmsg says more and is
   * freed with homing_free(). */
  const char text[] =
      "static_resources:\n"
      "  clusters:\n"
      "  - name: backend\n"
      "    lb_policy: FOO\n";
  homing_config_t *config = NULL;
  char *err = NULL;
  homing_status status = homing_config_parse(text, HOMING_NUL_TERMINATED,
                                             "inline.yaml", &config, &err);
  if (status != HOMING_ERR_INVALID_ARGUMENT || config != NULL || err == NULL) {
    return 1;
  }
  printf("%s: %s\n", homing_strerror(status), err);
  homing_free(err);

  /* Numbers homing does not define still get a string. */
  printf("%d: %s\n", 999, homing_strerror(999));

  /* Log verbosity is process-wide. */
  if (homing_set_log_level(HOMING_LOG_WARN) != HOMING_OK ||
      homing_log_level() != HOMING_LOG_WARN ||
      homing_set_log_level(42) != HOMING_ERR_INVALID_ARGUMENT) {
    return 1;
  }
  return 0;
}
