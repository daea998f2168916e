// mqbase: one binary, several subcommands — `serve` (the server), `pub` and `sub` (clients
// with mosquitto_pub/mosquitto_sub's flags).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "app/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"mqbase: an MQTT broker and time-series database in one server"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mqbase ") + MQBASE_VERSION);
  mqbase::app::add_serve_command(app);
  mqbase::app::add_check_command(app);
  mqbase::app::add_config_command(app);
  mqbase::app::add_client_commands(app);
  mqbase::app::add_bench_command(app);
  mqbase::app::add_table_commands(app);
  mqbase::app::add_sql_command(app);
  mqbase::app::add_passwd_command(app);
  mqbase::app::add_acl_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return mqbase::app::exit_code();
}
