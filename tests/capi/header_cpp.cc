// This file tests that homing.h compiles as C++ (pedantic, warnings as
// errors) with C linkage: the program links against libhoming.
#include <homing/homing.h>

#include <cstring>

int main() {
  const homing_status status = homing_set_log_level(HOMING_LOG_WARN);
  homing_stats_t* stats = homing_stats_new();
  char* text = nullptr;
  const bool rendered =
      homing_stats_render(stats, HOMING_STATS_JSON, nullptr, &text, nullptr,
                          nullptr) == HOMING_OK &&
      std::strcmp(text, "{\"stats\":[]}") == 0;
  homing_free(text);
  homing_stats_free(stats);
  return status == HOMING_OK && rendered &&
                 std::strcmp(homing_version(), HOMING_VERSION_STRING) == 0
             ? 0
             : 1;
}
