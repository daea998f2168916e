// The server's log (docs/operations.md#logs): text or JSON lines ([log] format), to stderr or
// to a file ([log] file) that is reopened on SIGHUP (for logrotate's create or move), or
// rotated by size ([log] max_size, keeping max_files). A file is flushed after every line, so
// a kill -9 loses none.
// Thread-safety: setup_logging() once, from main, before other threads log; reopen_logs()
// from any thread.
#pragma once
#include <string>

#include "app/config.h"

namespace mqbase::app {

// Installs the default logger as `config` says. Returns "" or why the log file cannot be
// opened (the caller refuses to start).
std::string setup_logging(const LogConfig& config, const std::string& level);

// Reopens the log file at its path (SIGHUP); nothing for stderr or a rotating file.
void reopen_logs();

}  // namespace mqbase::app
