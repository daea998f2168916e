#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>

#include "app/admin_api.h"
#include "app/commands.h"
#include "app/broker_views.h"
#include "app/config.h"
#include "app/http_access.h"
#include "app/logging.h"
#include "app/operations.h"
#include "auth/access_control.h"
#include "auth/hmac_challenge.h"
#include "net/listener.h"
#include "net/websocket.h"
#include "broker/broker.h"
#include "broker/persistence.h"
#include "http/http_server.h"
#include "http/query_pool.h"
#include "http/replay.h"
#include "http/query_topic.h"
#include "ingest/ingest.h"
#include "net/server.h"
#include "query/engine.h"
#include "store/store.h"
#include "store/tables.h"

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
  std::optional<std::string> durability;
  std::optional<std::string> http_listen;
  bool recover_skip_corrupt = false;
  std::string ready_file;
};

// A WebSocket upgrade on the HTTP port's /mqtt: answered here (101, or an HTTP error that
// says why), then the socket goes to an MQTT event loop.
void hand_over_websocket(net::Server& server, http::Upgrade up) {
  const std::string* key = up.request.header("Sec-WebSocket-Key");
  const std::string* version = up.request.header("Sec-WebSocket-Version");
  const std::string* protocols = up.request.header("Sec-WebSocket-Protocol");
  std::string why;
  std::optional<std::string> accept;
  if (up.request.method != "GET")
    why = "a WebSocket upgrade is a GET";
  else if (!version || *version != "13")
    why = "Sec-WebSocket-Version must be 13";
  else if (!key)
    why = "Sec-WebSocket-Key is missing";
  else
    accept = net::WebSocketTransport::upgrade_response(*key, protocols ? *protocols : std::string(), &why);
  int flags = ::fcntl(up.fd, F_GETFL, 0);
  ::fcntl(up.fd, F_SETFL, flags | O_NONBLOCK);
  if (!accept) {
    spdlog::info("WebSocket upgrade from {} on the HTTP port refused: {}", up.request.peer, why);
    std::string res = net::WebSocketTransport::reject_response(version && *version != "13" ? 426 : 400, why);
    (void)!::send(up.fd, res.data(), res.size(), MSG_NOSIGNAL);  // a short answer: the socket takes it
    ::close(up.fd);
    return;
  }
  server.adopt_websocket(up.fd, std::move(*accept), std::move(up.buffered), up.request.peer);
}

// Written once every listener is bound, so scripts and tests can find ephemeral ports: the
// MQTT listeners, and the HTTP one when it runs.
void write_ready_file(const std::string& path, const std::vector<net::BoundListener>& bound,
                      const http::HttpServer* http) {
  std::string json = fmt::format("{{\"pid\": {}, \"listeners\": [", ::getpid());
  for (size_t i = 0; i < bound.size(); ++i)
    json += fmt::format("{}{{\"bind\": \"{}\", \"port\": {}}}", i ? ", " : "", bound[i].bind, bound[i].port);
  json += "]";
  if (http) json += fmt::format(", \"http\": {{\"bind\": \"{}\", \"port\": {}}}", http->bound().host, http->bound().port);
  json += "}\n";
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
  if (f.http_listen) {
    try {
      load_config_text("http.listen = \"" + *f.http_listen + "\"", "--http-listen", config);
    } catch (const ConfigError& e) {
      std::fprintf(stderr, "mqbase: %s\n", e.what());
      return 2;
    }
  }
  // The password, ACL, JWT key and SCRAM files: a file that cannot be used stops the start,
  // before anything touches the data directory. SIGHUP reads them again (net::ServerOptions::on_reload).
  std::shared_ptr<auth::AccessControl> access;
  try {
    access = std::make_shared<auth::AccessControl>(config.access);
  } catch (const auth::AuthFileError& e) {
    std::fprintf(stderr, "mqbase: configuration error: %s\n", e.what());
    return 2;
  }
  // HTTPS (http.tls_cert): a certificate or key that cannot be used stops the start, as for a
  // listener; SIGHUP loads them again for the connections that follow.
  std::shared_ptr<const net::TlsContext> http_tls;
  if (config.http.enabled && config.http.tls.enabled()) {
    std::string why;
    http_tls = net::TlsContext::load(config.http.tls, &why);
    if (!http_tls) {
      std::fprintf(stderr, "mqbase: configuration error: http: %s\n", why.c_str());
      return 2;
    }
  }
  // Set while the HTTP server runs: SIGHUP hands it the reloaded certificate.
  struct HttpForReload {
    std::mutex mu;
    http::HttpServer* server = nullptr;
  };
  auto http_for_reload = std::make_shared<HttpForReload>();
  config.server.on_reload = [access, http_for_reload, tls = config.http.tls] {
    reopen_logs();  // logrotate moved the file away
    if (std::string errors = access->reload(); errors.empty())
      spdlog::info("reloaded the authentication files (password, ACL, JWT keys, SCRAM users)");
    else
      spdlog::error("{}", errors);
    std::lock_guard lock(http_for_reload->mu);
    if (http_for_reload->server && tls.enabled()) {
      std::string why;
      if (auto context = net::TlsContext::load(tls, &why)) {
        spdlog::info("HTTPS: reloaded {}", context->describe());
        http_for_reload->server->set_tls(std::move(context));
      } else {
        spdlog::error("HTTPS: {} (the previous certificate stays in force)", why);
      }
    }
  };
  if (f.data_dir) config.data_dir = *f.data_dir;
  if (f.log_level) config.log_level = *f.log_level;
  if (f.durability) {
    try {
      load_config_text("storage.durability = \"" + *f.durability + "\"", "--durability", config);
    } catch (const ConfigError& e) {
      std::fprintf(stderr, "mqbase: %s\n", e.what());
      return 2;
    }
  }

  if (std::string why = setup_logging(config.log, config.log_level); !why.empty()) {
    std::fprintf(stderr, "mqbase: %s\n", why.c_str());
    return 2;
  }

  // A file-size limit (ulimit -f) makes a write past it fail with EFBIG, which the store
  // handles as a full disk; by default SIGXFSZ would kill the process instead.
  std::signal(SIGXFSZ, SIG_IGN);
  query::keep_freed_memory();  // queries reuse the pages they free (query/engine.h)
  // The data directory first: recovery finishes before any listener opens.
  store::StoreOptions so;
  so.dir = config.data_dir;
  so.durability = config.storage.durability;
  so.batch_interval = std::chrono::milliseconds(config.storage.batch_interval_ms);
  so.segment_bytes = config.storage.segment_bytes;
  so.preallocate = config.storage.preallocate;
  so.recycle_segments = config.storage.recycle_segments;
  so.checkpoint_bytes = config.storage.checkpoint_bytes;
  so.disk_budget = config.storage.disk_budget;
  so.skip_corrupt = f.recover_skip_corrupt;
  so.log = [](const std::string& line) { spdlog::info("store: {}", line); };
  std::unique_ptr<store::Store> store;
  store::RecoveryReport report;
  // The tables first: recovery replays their WAL records into them, and a checkpoint asks
  // them to flush before it drops those records.
  std::unique_ptr<store::tables::Tables> tables;
  try {
    store::tables::TablesOptions to;
    to.dir = config.data_dir + "/tables";
    to.memory_budget = config.tables.memory_budget;
    to.block_rows = config.tables.block_rows;
    to.max_tables = config.tables.max_tables;
    to.log = [](const std::string& line) { spdlog::info("{}", line); };
    tables = store::tables::Tables::open(to);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  so.before_checkpoint = [t = tables.get()](store::Lsn covered) { return t->flush(covered); };
  // The store's threads (writer, checkpoints) start with SIGINT/SIGTERM/SIGHUP blocked, as
  // the event loops run with SIGINT/SIGTERM blocked (net::Server reads those from a signalfd):
  // a thread that left one unblocked would take it with its default action, an exit without
  // the orderly stop.
  sigset_t quit_signals, previous;
  sigemptyset(&quit_signals);
  sigaddset(&quit_signals, SIGINT);
  sigaddset(&quit_signals, SIGTERM);
  sigaddset(&quit_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &quit_signals, &previous);
  try {
    store = store::Store::open(so, &report, [t = tables.get()](uint8_t type, store::Lsn lsn, std::string_view payload) {
      t->replay(type, lsn, payload);
    });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  } catch (const std::exception& e) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    spdlog::error("{}", e.what());
    if (!f.recover_skip_corrupt && std::string_view(e.what()).find("corrupt") != std::string_view::npos)
      spdlog::error("to start anyway, skipping what cannot be read: mqbase serve --recover-skip-corrupt "
                    "(check first: mqbase check --data-dir {})",
                    config.data_dir);
    return 1;
  }
  for (const auto& w : report.warnings) spdlog::warn("store: {}", w);
  for (const auto& s : report.skipped) spdlog::warn("store: skipped {}", s);

  broker::Broker broker(config.limits, config.share_strategy);
  broker.set_access_control(access);
  for (auto& method : access->authenticators()) broker.add_authenticator(method);
  if (!config.hmac_challenge_secret.empty())
    broker.add_authenticator(std::make_shared<auth::HmacChallengeAuthenticator>(config.hmac_challenge_secret));
  net::Server server(broker, config.server);
  ingest::IngestOptions io;
  io.auto_create = config.tables.auto_create;
  io.timeformat = config.tables.timeformat;
  io.tz = config.tables.tz;
  io.rules = config.ingest_rules;
  // Their threads too start with the quit signals blocked (see above).
  pthread_sigmask(SIG_BLOCK, &quit_signals, &previous);
  tables->attach(*store);
  ingest::Ingest ingest(*tables, *store, broker, io);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  for (const auto& t : config.tables_defined) {
    store::Lsn lsn;
    if (std::string e = tables->define_table(t, &lsn); !e.empty()) {
      spdlog::error("table {}: {}", t.name, e);
      return 1;
    }
  }
  store->set_on_durable([loops = server.durable_notifier(), &ingest](store::Lsn lsn) {
    loops(lsn);
    ingest.durable(lsn);
  });
  // The writer calls into the server's loops: it stops before they go, on every way out.
  struct CloseStore {
    store::Store& store;
    store::tables::Tables& tables;
    ingest::Ingest& ingest;
    ~CloseStore() {
      ingest.stop();
      tables.close();
      store.close();
    }
  } close_store{*store, *tables, ingest};
  // SQL (docs/http.md): one engine and one query pool for both doors, HTTP and the MQTT
  // db/query topic, whose handler sits in front of the ingest as the broker's sink. Declared
  // after close_store: the pool's threads and the HTTP server are gone before the tables close.
  BrokerViews views(broker);  // mqtt_sessions, mqtt_clients, mqtt_subscriptions, mqtt_retained
  query::Engine engine(tables.get(), &views);
  http::QueryPool query_pool("mqbase-query", config.http.query_threads, config.http.query_queue);
  // /ready, /metrics and the console's /api (docs/operations.md).
  Operations operations(broker, *store, *tables, &ingest, &query_pool);
  AdminApi admin(access);
  http::Execute execute = [&engine, &operations](std::string_view sql, const query::QueryOptions& o,
                                                 query::ResultSink& sink) {
    auto began = std::chrono::steady_clock::now();
    query::QueryStatus st = engine.execute(sql, o, sink);
    operations.observe_query(std::chrono::steady_clock::now() - began, st.ok);
    return st;
  };
  http::QueryLimits query_limits;
  query_limits.timeout = std::chrono::seconds(config.http.query_timeout_s);
  query_limits.max_timeout = query_limits.timeout;
  query_limits.memory_limit = config.http.query_memory_limit;
  http::QueryLimits mqtt_limits = query_limits;
  mqtt_limits.max_whole = 64u << 20;  // an answer is one MQTT message
  // History replayed over MQTT (docs/replay.md), from the archive rules' tables: db/replay,
  // and SUBSCRIBE with replay-from. The sinks in a row: db/query, db/replay, the ingest.
  std::vector<http::ArchiveSource> archives;
  for (const auto& r : config.ingest_rules)
    if (r.archive) archives.push_back({r.topic, r.table});
  http::ArchiveReplay replay(broker, *tables, &ingest, std::move(archives));
  broker.set_replay_provider(&replay);
  http::QueryTopic query_topic(broker, &replay, query_pool, execute, mqtt_limits);
  broker.set_sink(&query_topic);
  std::unique_ptr<http::HttpServer> http_server;
  broker::Persistence persistence(*store);
  std::vector<broker::MessagePtr> wills;
  if (config.storage.durability == store::Durability::none) {
    store->release_recovered();  // memory only: whatever an earlier run kept stays unread
  } else {
    auto begin = std::chrono::steady_clock::now();
    broker::Recovered recovered;
    try {
      persistence.set_spill(config.data_dir + "/spill", config.storage.queue_in_memory,
                            [](const std::string& line) { spdlog::warn("store: {}", line); });
      recovered = persistence.load();
    } catch (const std::exception& e) {  // a value the log cannot give back, or no spill directory
      spdlog::error("{}", e.what());
      return 1;
    }
    store->release_recovered();
    size_t held = 0;
    for (const auto& rs : recovered.sessions) held += rs.held();
    wills = broker.start_persistence(persistence, recovered);
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - begin;
    spdlog::info("recovered {} sessions holding {} messages, {} retained messages from {} "
                 "(log: {} records in {:.2f} s; broker state: {:.2f} s){}",
                 recovered.sessions.size(), held, recovered.retained.size(), config.data_dir, report.records,
                 report.seconds, took.count(),
                 recovered.expired_sessions ? fmt::format("; {} sessions expired while stopped", recovered.expired_sessions)
                                            : std::string());
  }
  // The store's copy of the log and the decoded sessions are gone now; glibc keeps the freed
  // pages in the process unless asked to give them back.
  ::malloc_trim(0);
  http::HttpServerOptions ho;
  if (config.http.enabled) {
    std::string why;
    http::parse_listen_address(config.http.listen, &ho.listen, &why);  // checked by the config
    // MQTT over WebSocket at /mqtt on the HTTP port: anonymous clients as the HTTP API allows
    // them (http.allow_anonymous; unset: on a loopback address only, as for a listener there).
    net::ListenerOptions ws_side;
    ws_side.bind = ho.listen.host;
    ws_side.port = ho.listen.port;
    ws_side.allow_anonymous = config.http.allow_anonymous;
    server.accept_websocket_handover(ws_side);
  }
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  if (config.http.enabled) {
    ho.max_body = config.http.max_body;
    ho.read_timeout = std::chrono::seconds(config.http.read_timeout_s);
    ho.query = query_limits;
    ho.tls = http_tls;
    http_server = std::make_unique<http::HttpServer>(ho, execute, &ingest, query_pool, tables.get());
    http_server->set_mqtt_upgrade([&server](http::Upgrade up) { hand_over_websocket(server, std::move(up)); });
    http_server->set_operations([&operations, &admin](const http::Request& r) {
      if (auto res = admin.handle(r)) return res;
      return operations.handle(r);
    });
    http_server->set_authorizer(
        make_http_authorizer(access, config.http.allow_anonymous.value_or(net::Listener::is_loopback(ho.listen.host))));
    try {
      http_server->start();
      {
        std::lock_guard lock(http_for_reload->mu);
        http_for_reload->server = http_server.get();
      }
      auto b = http_server->bound();
      if (!http_tls)
        spdlog::info("MQTT over WebSocket at ws://{}:{}/mqtt (the HTTP port; anonymous clients {})",
                     b.host.find(':') != std::string::npos ? "[" + b.host + "]" : b.host, b.port,
                     config.http.allow_anonymous.value_or(net::Listener::is_loopback(b.host)) ? "allowed" : "refused");
      if (!config.http.allow_anonymous.value_or(net::Listener::is_loopback(b.host)))
        spdlog::info("HTTP API: requests need HTTP Basic credentials from auth.password_file (http.allow_anonymous)");
    } catch (const std::exception& e) {
      if (config.http.listen_given) {
        spdlog::error("{}", e.what());
        return 1;
      }
      // The default address taken (a second server on this machine): MQTT still serves.
      spdlog::warn("HTTP API not started: {} (set [http] listen, or --http-listen)", e.what());
      http_server.reset();
    }
  }
  for (auto& w : wills) broker.publish(w);  // of sessions that ended while the server was down
  pthread_sigmask(SIG_BLOCK, &quit_signals, &previous);  // the sampler thread too (see above)
  operations.start();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  operations.set_ready(true);
  if (!f.ready_file.empty()) write_ready_file(f.ready_file, server.bound(), http_server.get());
  spdlog::info("mqbase {} ready (data in {}, durability {})", MQBASE_VERSION, config.data_dir,
               config.storage.durability == store::Durability::sync    ? "sync"
               : config.storage.durability == store::Durability::batch ? "batch"
                                                                       : "none");
  server.run();
  operations.set_ready(false);
  operations.stop();
  // HTTP first, then the queries still running (their answers have nowhere to go now).
  {
    std::lock_guard lock(http_for_reload->mu);
    http_for_reload->server = nullptr;
  }
  if (http_server) http_server->stop();
  query_pool.stop();
  query_topic.stop();
  replay.stop();
  store->close();  // what is pending goes to disk
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
  cmd->add_option("--http-listen", flags->http_listen, "Address of the HTTP API, host:port (http.listen)");
  cmd->add_option("--durability", flags->durability, "sync (default), batch or none: see docs/durability.md")
      ->check(CLI::IsMember({"sync", "batch", "none"}));
  cmd->add_flag("--recover-skip-corrupt", flags->recover_skip_corrupt,
                "Start even when the log is corrupt in the middle, skipping the records that cannot be read");
  cmd->add_option("--ready-file", flags->ready_file, "Write the bound ports as JSON here once listening");
  cmd->callback([flags] { set_exit_code(serve(*flags)); });
}

void add_check_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>("./mqbase-data");
  auto* cmd = app.add_subcommand("check", "Verify every record of a data directory (offline; changes nothing)");
  cmd->add_option("--data-dir", *dir, "Data directory")->check(CLI::ExistingDirectory);
  cmd->callback([dir] { set_exit_code(store::check(*dir, std::cout) ? 0 : 1); });
}

}  // namespace mqbase::app
