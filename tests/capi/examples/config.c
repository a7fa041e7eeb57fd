/* Loading a config: listeners, clusters, and errors that name path and line. */
#include <homing/homing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  const char *path = getenv("HOMING_EXAMPLE_CONFIG");
  homing_config_t *config = NULL;
  char *err = NULL;
  if (path == NULL ||
      homing_config_load_file(path, &config, &err) != HOMING_OK) {
    fprintf(stderr, "cannot load %s: %s\n", path ? path : "(unset)", err);
    homing_free(err);
    return 1;
  }
  for (size_t i = 0; i < homing_config_listener_count(config); ++i) {
    printf("listener %zu: %s\n", i, homing_config_listener_name(config, i));
  }
  for (size_t i = 0; i < homing_config_cluster_count(config); ++i) {
    printf("cluster %zu: %s\n", i, homing_config_cluster_name(config, i));
  }
  homing_config_free(config);

  /* Validation is strict: the message names the field and its line. */
  const char bad[] =
      "static_resources:\n"
      "  clusters:\n"
      "  - name: resolver\n"
      "    type: STATIC\n"
      "    connect_timeout: soon\n";
  homing_status status =
      homing_config_parse(bad, strlen(bad), "bad.yaml", &config, &err);
  printf("%s\n", err);
  if (status != HOMING_ERR_INVALID_ARGUMENT || strstr(err, "line 5") == NULL) {
    return 1;
  }
  homing_free(err);
  err = NULL;

  /* A file that cannot be read is HOMING_ERR_NOT_FOUND. */
  status = homing_config_load_file("/nonexistent/homing.yaml", &config, &err);
  homing_free(err);
  return status == HOMING_ERR_NOT_FOUND ? 0 : 1;
}
