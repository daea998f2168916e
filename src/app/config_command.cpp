// `mqbase config check FILE` (docs/operations.md#checking-a-configuration): reads a
// configuration as `mqbase serve -c FILE` would, and the files it names (password, ACL, JWT
// keys, SCRAM users, TLS certificates and keys), and prints every mistake with its file, line
// and key. Exit 0 when the server would start with it, 2 when it would not. Touches nothing
// (no data directory, no port).
#include <cstdio>
#include <iostream>

#include "app/commands.h"
#include "app/config.h"
#include "auth/access_control.h"
#include "net/server.h"
#include "net/tls.h"

namespace mqbase::app {
namespace {

int check_config(const std::string& path) {
  Config config;
  int mistakes = 0;
  try {
    load_config_file(path, config);
  } catch (const ConfigError& e) {
    std::string all = e.what();
    for (size_t start = 0; start < all.size();) {
      size_t end = all.find('\n', start);
      if (end == std::string::npos) end = all.size();
      std::fprintf(stderr, "%s\n", all.substr(start, end - start).c_str());
      ++mistakes;
      start = end + 1;
    }
    std::fprintf(stderr, "%s: %d mistake%s\n", path.c_str(), mistakes, mistakes == 1 ? "" : "s");
    return 2;
  }
  try {
    auth::AccessControl access(config.access);
  } catch (const auth::AuthFileError& e) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), e.what());
    ++mistakes;
  }
  for (size_t i = 0; i < config.server.listeners.size(); ++i) {
    const auto& l = config.server.listeners[i];
    if (!l.tls.enabled()) continue;
    std::string why;
    if (!net::TlsContext::load(l.tls, &why)) {
      std::fprintf(stderr, "%s: listener %zu (%s:%u): %s\n", path.c_str(), i + 1, l.bind.c_str(), l.port, why.c_str());
      ++mistakes;
    }
  }
  if (config.http.enabled && config.http.tls.enabled()) {
    std::string why;
    if (!net::TlsContext::load(config.http.tls, &why)) {
      std::fprintf(stderr, "%s: http: %s\n", path.c_str(), why.c_str());
      ++mistakes;
    }
  }
  if (mistakes) {
    std::fprintf(stderr, "%s: %d mistake%s\n", path.c_str(), mistakes, mistakes == 1 ? "" : "s");
    return 2;
  }
  std::printf("%s: OK (%zu listener%s, HTTP%s %s)\n", path.c_str(), config.server.listeners.size(),
              config.server.listeners.size() == 1 ? "" : "s", config.http.tls.enabled() ? "S" : "",
              config.http.enabled ? config.http.listen.c_str() : "off");
  return 0;
}

}  // namespace

void add_config_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("config", "Work with configuration files");
  cmd->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  auto* check = cmd->add_subcommand("check", "Check a configuration file and the files it names; print every mistake");
  check->add_option("file", *path, "TOML configuration file")->required();
  check->callback([path] { set_exit_code(check_config(*path)); });
}

}  // namespace mqbase::app
