// libFuzzer harness for the configuration (app/config.h): arbitrary text through
// app::load_config_text() as `mqbase serve --config` reads its TOML file. A ConfigError is
// the documented answer to any mistake; another exception type, a crash, a leak or UBSan is a
// bug.
#include <cstdint>
#include <string>

#include "app/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mqbase::app::Config config;
  try {
    mqbase::app::load_config_text(std::string(reinterpret_cast<const char*>(data), size), "fuzz.toml", config);
  } catch (const mqbase::app::ConfigError&) {
  }
  return 0;
}
