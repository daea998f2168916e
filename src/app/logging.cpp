#include "app/logging.h"

#include <spdlog/details/file_helper.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <mutex>

#include "query/format.h"

namespace mqbase::app {
namespace {

// One JSON object per line: {"time":"2026-12-06T08:00:00.123Z","level":"info","thread":123,"msg":"..."}.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    auto since = msg.time.time_since_epoch();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
    std::time_t t = static_cast<std::time_t>(secs.count());
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string line = fmt::format("{{\"time\":\"{}.{:03}Z\",\"level\":", when, ms);
    auto level = spdlog::level::to_string_view(msg.level);
    query::append_json_string(std::string_view(level.data(), level.size()), line);
    line += fmt::format(",\"thread\":{},\"msg\":", msg.thread_id);
    query::append_json_string(std::string_view(msg.payload.data(), msg.payload.size()), line);
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// A file appended to and reopened at its path on request: logrotate moves the file away and
// sends SIGHUP, and the next line goes to a new file of the same name.
class ReopenableFileSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ReopenableFileSink(const std::string& path) { file_.open(path, false); }
  void reopen() {
    std::lock_guard lock(mutex_);
    file_.reopen(false);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    file_.write(formatted);
  }
  void flush_() override { file_.flush(); }

 private:
  spdlog::details::file_helper file_;
};

std::shared_ptr<ReopenableFileSink> g_reopenable;  // set once by setup_logging()

}  // namespace

std::string setup_logging(const LogConfig& config, const std::string& level) {
  spdlog::sink_ptr sink;
  try {
    if (config.file.empty()) {
      sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    } else if (config.max_size > 0) {
      sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(config.file, config.max_size, config.max_files);
    } else {
      g_reopenable = std::make_shared<ReopenableFileSink>(config.file);
      sink = g_reopenable;
    }
  } catch (const spdlog::spdlog_ex& e) {
    return "cannot open the log file (log.file) " + config.file + ": " + e.what();
  }
  auto logger = std::make_shared<spdlog::logger>("mqbase", sink);
  if (config.format == "json")
    logger->set_formatter(std::make_unique<JsonFormatter>());
  else
    logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        config.file.empty() ? "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v" : "%Y-%m-%dT%H:%M:%S.%e %l %v"));
  logger->set_level(spdlog::level::from_str(level));
  if (!config.file.empty()) logger->flush_on(spdlog::level::trace);  // every line: a kill -9 loses none
  spdlog::set_default_logger(logger);
  return {};
}

void reopen_logs() {
  if (g_reopenable) g_reopenable->reopen();
}

}  // namespace mqbase::app
