#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "app/commands.h"
#include "app/config.h"
#include "auth/hmac_challenge.h"
#include "broker/broker.h"
#include "net/server.h"

namespace mqbase::app {

namespace {
int g_exit_code = 0;

struct ServeFlags {
  std::string config_path;
  std::optional<uint16_t> port;
  std::optional<std::string> bind;
  std::optional<unsigned> threads;
  std::optional<std::string> data_dir;
  std::optional<std::string> log_level;
  std::string ready_file;
};

// Written once every listener is bound, so scripts and tests can find ephemeral ports.
void write_ready_file(const std::string& path, const std::vector<net::BoundListener>& bound) {
  std::string json = fmt::format("{{\"pid\": {}, \"listeners\": [", ::getpid());
  for (size_t i = 0; i < bound.size(); ++i)
    json += fmt::format("{}{{\"bind\": \"{}\", \"port\": {}}}", i ? ", " : "", bound[i].bind, bound[i].port);
  json += "]}\n";
  std::string tmp = path + ".tmp";
  std::ofstream(tmp) << json;
  std::filesystem::rename(tmp, path);
}

int serve(const ServeFlags& f) {
  Config config;
  try {
    if (!f.config_path.empty()) load_config_file(f.config_path, config);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "mqbase: configuration error: %s\n", e.what());
    return 2;
  }
  if (f.port || f.bind) {
    if (config.server.listeners.empty()) config.server.listeners.emplace_back();
    if (f.port) config.server.listeners[0].port = *f.port;
    if (f.bind) config.server.listeners[0].bind = *f.bind;
  }
  if (f.threads) config.server.threads = *f.threads;
  if (f.data_dir) config.data_dir = *f.data_dir;
  if (f.log_level) config.log_level = *f.log_level;

  auto logger = spdlog::stderr_color_mt("mqbase");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    spdlog::error("cannot create data directory {}: {}", config.data_dir, ec.message());
    return 1;
  }

  broker::Broker broker(config.limits, config.share_strategy);
  if (!config.hmac_challenge_secret.empty())
    broker.add_authenticator(std::make_shared<auth::HmacChallengeAuthenticator>(config.hmac_challenge_secret));
  net::Server server(broker, config.server);
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  if (!f.ready_file.empty()) write_ready_file(f.ready_file, server.bound());
  spdlog::info("mqbase {} ready (data in {})", MQBASE_VERSION, config.data_dir);
  server.run();
  spdlog::info("stopped");
  return 0;
}
}  // namespace

void set_exit_code(int code) { g_exit_code = code; }
int exit_code() { return g_exit_code; }

void add_serve_command(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve", "Run the MQTT server");
  cmd->add_option("-c,--config", flags->config_path, "TOML configuration file")->check(CLI::ExistingFile);
  cmd->add_option("--port", flags->port, "MQTT port of the first listener (0 = ephemeral)");
  cmd->add_option("--bind", flags->bind, "Address of the first listener");
  cmd->add_option("--threads", flags->threads, "Event-loop threads (0 = one per core)");
  cmd->add_option("--data-dir", flags->data_dir, "Data directory");
  cmd->add_option("--log-level", flags->log_level, "trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  cmd->add_option("--ready-file", flags->ready_file, "Write the bound ports as JSON here once listening");
  cmd->callback([flags] { set_exit_code(serve(*flags)); });
}

}  // namespace mqbase::app
