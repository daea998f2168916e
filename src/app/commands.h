// The subcommands of the mqbase binary. Each add_* registers its CLI11 subcommand with a
// callback that runs it and records the process exit code.
#pragma once
#include <CLI/CLI.hpp>

namespace mqbase::app {

void add_serve_command(CLI::App& app);
// `mqbase check --data-dir D`: verifies every record of a data directory offline.
void add_check_command(CLI::App& app);
void add_client_commands(CLI::App& app);  // pub, sub
void add_bench_command(CLI::App& app);    // bench <scenario>
void add_table_commands(CLI::App& app);   // tables list, tables dump
void add_sql_command(CLI::App& app);      // sql: the SQL shell over a server's HTTP API
void add_passwd_command(CLI::App& app);   // passwd: mosquitto_passwd's password files
void add_acl_command(CLI::App& app);      // acl check|add|delete|test: mosquitto acl_files
void add_config_command(CLI::App& app);   // config check FILE

void set_exit_code(int code);
int exit_code();

}  // namespace mqbase::app
