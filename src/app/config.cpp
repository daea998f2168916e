#include "app/config.h"

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "http/listen_address.h"

namespace mqbase::app {
namespace {

[[noreturn]] void fail(const std::string& origin, const toml::node& node, const std::string& key,
                       const std::string& what) {
  throw ConfigError(fmt::format("{}:{}: {}: {}", origin, node.source().begin.line, key, what));
}

int64_t integer(const std::string& origin, const toml::node& node, const std::string& key, int64_t min, int64_t max) {
  // is_integer() first: value<int64_t>() of a float (port = 18e83) casts it, out of range, to int64.
  if (!node.is_integer()) fail(origin, node, key, "expected an integer");
  auto v = node.value<int64_t>();
  if (!v) fail(origin, node, key, "expected an integer");
  if (*v < min || *v > max) fail(origin, node, key, fmt::format("must be between {} and {}, got {}", min, max, *v));
  return *v;
}

bool boolean(const std::string& origin, const toml::node& node, const std::string& key) {
  if (!node.is_boolean()) fail(origin, node, key, "expected true or false");
  return *node.value<bool>();
}

std::string string(const std::string& origin, const toml::node& node, const std::string& key) {
  if (!node.is_string()) fail(origin, node, key, "expected a string");
  return *node.value<std::string>();
}

const toml::table& table(const std::string& origin, const toml::node& node, const std::string& key) {
  if (!node.is_table()) fail(origin, node, key, "expected a table");
  return *node.as_table();
}

// A tls_* key of a listener or of [http] into `tls`; false for any other key.
bool tls_setting(const std::string& origin, std::string_view k, const toml::node& v, const std::string& key,
                 net::TlsSettings& tls) {
  if (k == "tls_cert") {
    tls.cert_file = string(origin, v, key);
  } else if (k == "tls_key") {
    tls.key_file = string(origin, v, key);
  } else if (k == "tls_ca") {
    tls.ca_file = string(origin, v, key);
  } else if (k == "tls_client_certificates") {
    std::string c = string(origin, v, key);
    if (c == "none")
      tls.client_certificates = net::ClientCertificates::none;
    else if (c == "optional")
      tls.client_certificates = net::ClientCertificates::optional;
    else if (c == "required")
      tls.client_certificates = net::ClientCertificates::required;
    else
      fail(origin, v, key, "expected \"none\", \"optional\" or \"required\", got \"" + c + "\"");
  } else if (k == "tls_min_version") {
    tls.min_version = string(origin, v, key);
    if (tls.min_version != "1.2" && tls.min_version != "1.3")
      fail(origin, v, key, "expected \"1.2\" or \"1.3\", got \"" + tls.min_version + "\"");
  } else if (k == "tls_ciphers") {
    tls.ciphers = string(origin, v, key);
  } else if (k == "tls_ciphersuites") {
    tls.ciphersuites = string(origin, v, key);
  } else {
    return false;
  }
  return true;
}

// What only makes sense together, for the table `section` ("listener", "http") at `t`.
void check_tls(const std::string& origin, const toml::node& t, const std::string& section,
               const net::TlsSettings& tls) {
  if (tls.cert_file.empty() != tls.key_file.empty())
    fail(origin, t, section, "tls_cert and tls_key go together (the certificate and its private key)");
  if (tls.client_certificates != net::ClientCertificates::none && tls.ca_file.empty())
    fail(origin, t, section + ".tls_client_certificates", "needs tls_ca (the CA that signs client certificates)");
  if (!tls.ca_file.empty() && tls.cert_file.empty())
    fail(origin, t, section + ".tls_ca", "needs tls_cert and tls_key (TLS)");
}

void load_listener(const std::string& origin, const toml::table& t, net::ListenerOptions& l) {
  for (const auto& [k, v] : t) {
    std::string key = "listener." + std::string(k.str());
    if (k == "bind") {
      l.bind = string(origin, v, key);
    } else if (k == "port") {
      l.port = static_cast<uint16_t>(integer(origin, v, key, 0, 65535));
    } else if (k == "protocol") {
      std::string p = string(origin, v, key);
      if (p == "mqtt")
        l.protocol = net::ListenerOptions::Protocol::mqtt;
      else if (p == "websockets")
        l.protocol = net::ListenerOptions::Protocol::websockets;
      else
        fail(origin, v, key, "expected \"mqtt\" or \"websockets\", got \"" + p + "\"");
    } else if (k == "allow_anonymous") {
      l.allow_anonymous = boolean(origin, v, key);
    } else if (k == "use_identity_as_username") {
      l.use_identity_as_username = boolean(origin, v, key);
    } else if (tls_setting(origin, k.str(), v, key, l.tls)) {
    } else {
      fail(origin, v, key, "unknown key");
    }
  }
  // What only makes sense together is checked here, where the table's line is known.
  check_tls(origin, t, "listener", l.tls);
  if (l.use_identity_as_username && l.tls.client_certificates != net::ClientCertificates::required)
    fail(origin, t, "listener.use_identity_as_username", "needs tls_client_certificates = \"required\"");
}

// One [[ingest]] rule; checked by compiling it, so that a bad filter, table or JSON path is a
// config error naming the rule and its line.
void load_rule(const std::string& origin, const toml::node& item, std::vector<ingest::RuleConfig>& rules) {
  const toml::table& t = table(origin, item, "ingest");
  ingest::RuleConfig r;
  for (const auto& [k, v] : t) {
    std::string key = "ingest." + std::string(k.str());
    if (k == "topic") r.topic = string(origin, v, key);
    else if (k == "table") r.table = string(origin, v, key);
    else if (k == "time") r.time = string(origin, v, key);
    else if (k == "timeformat") r.timeformat = string(origin, v, key);
    else if (k == "archive") r.archive = boolean(origin, v, key);
    else if (k == "tags" || k == "fields") {
      for (const auto& [name, path] : table(origin, v, key))
        (k == "tags" ? r.tags : r.fields).emplace_back(std::string(name.str()), string(origin, path, key + "." + std::string(name.str())));
    } else {
      fail(origin, v, key, "unknown key");
    }
  }
  try {
    ingest::IngestRule check(r);
  } catch (const std::invalid_argument& e) {
    fail(origin, item, "ingest", e.what());
  }
  rules.push_back(std::move(r));
}

// One [[table]]: a table the server makes at start if it is missing (and grows to these
// columns, with these options, if it is there).
void load_table(const std::string& origin, const toml::node& item, std::vector<store::tables::Schema>& out) {
  namespace tb = store::tables;
  const toml::table& t = table(origin, item, "table");
  tb::Schema s;
  auto duration = [&](const toml::node& v, const std::string& key, bool zero_ok) -> int64_t {
    std::string text = string(origin, v, key);
    if (zero_ok && (text == "0" || text.empty())) return 0;
    auto ns = tb::parse_duration(text);
    if (!ns) fail(origin, v, key, "expected a duration such as \"1d\", \"6h\", \"30m\", \"90s\"");
    return *ns;
  };
  for (const auto& [k, v] : t) {
    std::string key = "table." + std::string(k.str());
    if (k == "name") {
      s.name = string(origin, v, key);
    } else if (k == "columns") {
      if (!v.is_array()) fail(origin, v, key, "expected an array of \"name TYPE\" strings");
      for (const auto& col : *v.as_array()) {
        std::string text = string(origin, col, key);
        size_t sp = text.find(' ');
        auto type = sp == std::string::npos ? std::nullopt : tb::parse_type_name(text.substr(sp + 1));
        if (!type)
          fail(origin, col, key, "'" + text + "': expected \"name TYPE\" with TYPE one of TIME, TAG, DOUBLE, BIGINT, "
                                 "BOOLEAN, VARCHAR, JSON");
        s.columns.push_back({text.substr(0, sp), *type});
      }
    } else if (k == "partition") {
      s.options.partition_ns = duration(v, key, false);
    } else if (k == "retention") {
      s.options.ttl_ns = duration(v, key, true);
    } else if (k == "out_of_order_window") {
      s.options.ooo_window_ns = duration(v, key, true);
    } else if (k == "duplicates") {
      auto p = tb::parse_policy(string(origin, v, key));
      if (!p) fail(origin, v, key, "must be one of last, first, all");
      s.options.duplicates = *p;
    } else if (k == "disk_budget") {
      s.options.disk_budget = static_cast<uint64_t>(integer(origin, v, key, 0, int64_t{1} << 50));
    } else {
      fail(origin, v, key, "unknown key");
    }
  }
  std::string n;
  if (!tb::normalize_name(s.name, &n)) fail(origin, item, "table.name", "'" + s.name + "' is not a valid table name");
  s.name = n;
  for (auto& col : s.columns) {
    if (!tb::normalize_name(col.name, &n)) fail(origin, item, "table.columns", "'" + col.name + "' is not a valid column name");
    col.name = n;
  }
  if (std::string why = tb::validate(s); !why.empty()) fail(origin, item, "table", why);
  out.push_back(std::move(s));
}

// Every mistake of the file, not only the first: each key, listener, table and rule is read
// on its own, and what fails is collected (`errors`) while the rest goes on.
void apply(const toml::table& root, const std::string& origin, Config& c, std::vector<std::string>& errors) {
  auto guarded = [&errors](auto&& fn) {
    try {
      fn();
    } catch (const ConfigError& e) {
      errors.emplace_back(e.what());
    }
  };
  // Plain references, not structured bindings: clang 14 (the fuzz build) cannot capture those.
  for (const auto& entry : root) {
    const auto& node = entry.second;
    std::string s(entry.first.str());
    if (s == "listener") {
      guarded([&] {
        if (!node.is_array_of_tables()) fail(origin, node, s, "expected [[listener]] tables");
        c.server.listeners.clear();
        for (const auto& item : *node.as_array())
          guarded([&] {
            net::ListenerOptions l;
            load_listener(origin, *item.as_table(), l);
            c.server.listeners.push_back(l);
          });
      });
      continue;
    }
    if (s == "table") {
      guarded([&] {
        if (!node.is_array_of_tables()) fail(origin, node, s, "expected [[table]] tables");
        for (const auto& item : *node.as_array()) guarded([&] { load_table(origin, item, c.tables_defined); });
      });
      continue;
    }
    if (s == "ingest") {
      guarded([&] {
        if (!node.is_array_of_tables()) fail(origin, node, s, "expected [[ingest]] tables");
        for (const auto& item : *node.as_array()) guarded([&] { load_rule(origin, item, c.ingest_rules); });
      });
      continue;
    }
    static const char* kSections[] = {"server", "limits", "sys", "log", "shared", "auth", "storage", "tables", "http"};
    if (std::find(std::begin(kSections), std::end(kSections), s) == std::end(kSections)) {
      guarded([&] { fail(origin, node, s, "unknown section"); });
      continue;
    }
    const toml::table* section_table = nullptr;
    guarded([&] { section_table = &table(origin, node, s); });
    if (!section_table) continue;
    for (const auto& kv : *section_table) guarded([&] {
      const auto& v = kv.second;
      std::string key = s + "." + std::string(kv.first.str());
      if (key == "server.threads") {
        c.server.threads = static_cast<unsigned>(integer(origin, v, key, 0, 1024));
      } else if (key == "server.data_dir") {
        c.data_dir = string(origin, v, key);
      } else if (key == "storage.durability") {
        std::string mode = string(origin, v, key);
        if (mode == "sync")
          c.storage.durability = store::Durability::sync;
        else if (mode == "batch")
          c.storage.durability = store::Durability::batch;
        else if (mode == "none")
          c.storage.durability = store::Durability::none;
        else
          fail(origin, v, key, "must be one of sync, batch, none");
      } else if (key == "storage.batch_interval_ms") {
        c.storage.batch_interval_ms = static_cast<uint32_t>(integer(origin, v, key, 1, 60'000));
      } else if (key == "storage.segment_size") {
        c.storage.segment_bytes = static_cast<uint64_t>(integer(origin, v, key, 1 << 16, int64_t{1} << 34));
      } else if (key == "storage.preallocate") {
        c.storage.preallocate = boolean(origin, v, key);
      } else if (key == "storage.recycle_segments") {
        c.storage.recycle_segments = boolean(origin, v, key);
      } else if (key == "storage.checkpoint_bytes") {
        c.storage.checkpoint_bytes = static_cast<uint64_t>(integer(origin, v, key, 1 << 16, int64_t{1} << 40));
      } else if (key == "storage.queue_in_memory") {
        c.storage.queue_in_memory = static_cast<uint32_t>(integer(origin, v, key, 0, 100'000'000));
      } else if (key == "storage.disk_budget") {
        c.storage.disk_budget = static_cast<uint64_t>(integer(origin, v, key, 0, int64_t{1} << 50));
      } else if (key == "tables.auto_create") {
        c.tables.auto_create = boolean(origin, v, key);
      } else if (key == "tables.timeformat") {
        std::string f = string(origin, v, key);
        if (f != "s" && f != "ms" && f != "us" && f != "ns" && f != "rfc3339") fail(origin, v, key, "must be one of s, ms, us, ns, rfc3339");
        c.tables.timeformat = f;
      } else if (key == "tables.tz") {
        c.tables.tz = string(origin, v, key);
      } else if (key == "tables.memory_budget") {
        c.tables.memory_budget = static_cast<uint64_t>(integer(origin, v, key, 1 << 20, int64_t{1} << 44));
      } else if (key == "tables.max_tables") {
        c.tables.max_tables = static_cast<uint32_t>(integer(origin, v, key, 0, 10'000'000));
      } else if (key == "tables.block_rows") {
        c.tables.block_rows = static_cast<uint32_t>(integer(origin, v, key, 16, 65536));
      } else if (key == "http.enabled") {
        c.http.enabled = boolean(origin, v, key);
      } else if (key == "http.listen") {
        c.http.listen = string(origin, v, key);
        http::ListenAddress a;
        if (std::string why; !http::parse_listen_address(c.http.listen, &a, &why)) fail(origin, v, key, why);
        c.http.listen_given = true;
      } else if (key == "http.query_threads") {
        c.http.query_threads = static_cast<unsigned>(integer(origin, v, key, 1, 256));
      } else if (key == "http.query_queue") {
        c.http.query_queue = static_cast<uint32_t>(integer(origin, v, key, 0, 100'000));
      } else if (key == "http.query_timeout") {
        c.http.query_timeout_s = static_cast<uint32_t>(integer(origin, v, key, 0, 86'400));
      } else if (key == "http.query_memory_limit") {
        c.http.query_memory_limit = static_cast<uint64_t>(integer(origin, v, key, 0, int64_t{1} << 44));
      } else if (key == "http.max_body") {
        c.http.max_body = static_cast<uint64_t>(integer(origin, v, key, 1024, int64_t{1} << 32));
      } else if (key == "http.allow_anonymous") {
        c.http.allow_anonymous = boolean(origin, v, key);
      } else if (key == "http.read_timeout") {
        c.http.read_timeout_s = static_cast<uint32_t>(integer(origin, v, key, 1, 3600));
      } else if (key.starts_with("http.tls_") && tls_setting(origin, std::string_view(key).substr(5), v, key, c.http.tls)) {
      } else if (key == "limits.max_packet_size") {
        c.limits.max_packet_size = static_cast<uint32_t>(integer(origin, v, key, 16, 268'435'460));
      } else if (key == "limits.max_queued_messages") {
        c.limits.max_queued_messages = static_cast<uint32_t>(integer(origin, v, key, 0, 100'000'000));
      } else if (key == "limits.max_queued_bytes") {
        c.limits.max_queued_bytes = static_cast<uint64_t>(integer(origin, v, key, 0, int64_t{1} << 40));
      } else if (key == "limits.queue_full_policy") {
        std::string policy = string(origin, v, key);
        if (policy == "backpressure")
          c.limits.queue_full_policy = broker::QueueFullPolicy::backpressure;
        else if (policy == "drop")
          c.limits.queue_full_policy = broker::QueueFullPolicy::drop;
        else
          fail(origin, v, key, "must be one of backpressure, drop");
      } else if (key == "limits.max_unsent_bytes") {
        c.limits.max_unsent_bytes = static_cast<size_t>(integer(origin, v, key, 4096, int64_t{1} << 40));
      } else if (key == "limits.max_sessions") {
        c.limits.max_sessions = static_cast<uint32_t>(integer(origin, v, key, 0, 100'000'000));
      } else if (key == "limits.max_subscriptions_per_client") {
        c.limits.max_subscriptions_per_client = static_cast<uint32_t>(integer(origin, v, key, 0, 100'000'000));
      } else if (key == "limits.max_inflight_messages") {
        c.limits.max_inflight_messages = static_cast<uint32_t>(integer(origin, v, key, 0, 65535));
      } else if (key == "limits.max_write_buffer") {
        c.limits.max_write_buffer = static_cast<size_t>(integer(origin, v, key, 1024, int64_t{1} << 34));
      } else if (key == "limits.connect_timeout") {
        c.limits.connect_timeout_ms = static_cast<uint32_t>(integer(origin, v, key, 1, 3600) * 1000);
      } else if (key == "limits.max_connections") {
        c.limits.max_connections = static_cast<uint32_t>(integer(origin, v, key, 0, 100'000'000));
      } else if (key == "limits.max_keep_alive") {
        c.limits.max_keep_alive = static_cast<uint16_t>(integer(origin, v, key, 1, 65535));
      } else if (key == "limits.receive_maximum") {
        c.limits.receive_maximum = static_cast<uint16_t>(integer(origin, v, key, 1, 65535));
      } else if (key == "limits.topic_alias_maximum") {
        c.limits.topic_alias_maximum = static_cast<uint16_t>(integer(origin, v, key, 0, 65535));
      } else if (key == "limits.max_topic_levels") {
        c.limits.max_topic_levels = static_cast<uint32_t>(integer(origin, v, key, 0, 65536));
      } else if (key == "limits.max_retained_messages") {
        c.limits.max_retained_messages = static_cast<size_t>(integer(origin, v, key, 0, int64_t{1} << 40));
      } else if (key == "limits.max_retained_bytes") {
        c.limits.max_retained_bytes = static_cast<size_t>(integer(origin, v, key, 0, int64_t{1} << 50));
      } else if (key == "shared.strategy") {
        std::string st = string(origin, v, key);
        static const std::pair<const char*, broker::ShareStrategy> kStrategies[] = {
            {"round_robin", broker::ShareStrategy::round_robin}, {"random", broker::ShareStrategy::random},
            {"sticky", broker::ShareStrategy::sticky},           {"hash_client", broker::ShareStrategy::hash_client},
            {"hash_topic", broker::ShareStrategy::hash_topic}};
        auto it = std::find_if(std::begin(kStrategies), std::end(kStrategies), [&](auto& e) { return st == e.first; });
        if (it == std::end(kStrategies))
          fail(origin, v, key, "must be one of round_robin, random, sticky, hash_client, hash_topic");
        c.share_strategy = it->second;
      } else if (key == "auth.hmac_challenge_secret") {
        c.hmac_challenge_secret = string(origin, v, key);
        if (c.hmac_challenge_secret.empty()) fail(origin, v, key, "must not be empty");
      } else if (key == "auth.password_file" || key == "auth.acl_file") {
        std::string path = string(origin, v, key);
        if (path.empty()) fail(origin, v, key, "must not be empty (leave the key out for none)");
        (key == "auth.password_file" ? c.access.password_file : c.access.acl_file) = path;
      } else if (key == "auth.jwt_key_file" || key == "auth.jwt_jwks_file" || key == "auth.scram_file") {
        std::string path = string(origin, v, key);
        if (path.empty()) fail(origin, v, key, "must not be empty (leave the key out for none)");
        (key == "auth.jwt_key_file"    ? c.access.jwt.key_file
         : key == "auth.jwt_jwks_file" ? c.access.jwt.jwks_file
                                       : c.access.scram_file) = path;
      } else if (key == "auth.jwt_audience") {
        c.access.jwt.audience = string(origin, v, key);
      } else if (key == "auth.jwt_issuer") {
        c.access.jwt.issuer = string(origin, v, key);
      } else if (key == "auth.jwt_leeway") {
        c.access.jwt.leeway = std::chrono::seconds(integer(origin, v, key, 0, 86400));
      } else if (key == "auth.jwt_username_claim" || key == "auth.jwt_publish_claim" ||
                 key == "auth.jwt_subscribe_claim") {
        std::string claim = string(origin, v, key);
        if (claim.empty()) fail(origin, v, key, "must not be empty");
        (key == "auth.jwt_username_claim"  ? c.access.jwt.username_claim
         : key == "auth.jwt_publish_claim" ? c.access.jwt.publish_claim
                                           : c.access.jwt.subscribe_claim) = claim;
      } else if (key == "auth.failed_attempts") {
        c.access.failed_attempts = static_cast<uint32_t>(integer(origin, v, key, 0, 1'000'000));
      } else if (key == "auth.failed_delay_ms") {
        c.access.failed_delay = std::chrono::milliseconds(integer(origin, v, key, 0, 600'000));
      } else if (key == "sys.interval") {
        c.server.sys_interval_s = static_cast<unsigned>(integer(origin, v, key, 0, 86400));
      } else if (key == "log.level") {
        c.log_level = string(origin, v, key);
        static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
        if (std::find(std::begin(kLevels), std::end(kLevels), c.log_level) == std::end(kLevels))
          fail(origin, v, key, "must be one of trace, debug, info, warn, error, off");
      } else if (key == "log.format") {
        c.log.format = string(origin, v, key);
        if (c.log.format != "text" && c.log.format != "json") fail(origin, v, key, "must be text or json");
      } else if (key == "log.file") {
        c.log.file = string(origin, v, key);
      } else if (key == "log.max_size") {
        c.log.max_size = static_cast<uint64_t>(integer(origin, v, key, 0, int64_t{1} << 40));
      } else if (key == "log.max_files") {
        c.log.max_files = static_cast<uint32_t>(integer(origin, v, key, 1, 1000));
      } else {
        fail(origin, v, key, "unknown key");
      }
    });
    if (s == "http") guarded([&] { check_tls(origin, node, "http", c.http.tls); });
  }
}

}  // namespace

void load_config_text(const std::string& text, const std::string& origin, Config& config) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}: {}", origin, e.source().begin.line, e.description()));
  }
  std::vector<std::string> errors;
  apply(root, origin, config, errors);
  if (!errors.empty()) {
    // In the file's order (a TOML table keeps its keys sorted by name, not by line).
    auto line_of = [&origin](const std::string& e) {
      return e.size() > origin.size() + 1 ? std::atol(e.c_str() + origin.size() + 1) : 0L;
    };
    std::stable_sort(errors.begin(), errors.end(),
                     [&](const std::string& a, const std::string& b) { return line_of(a) < line_of(b); });
    std::string all = errors.front();
    for (size_t i = 1; i < errors.size(); ++i) all += "\n" + errors[i];
    throw ConfigError(all);
  }
}

void load_config_file(const std::string& path, Config& config) {
  std::ifstream in(path);
  if (!in) throw ConfigError(fmt::format("{}: cannot open the configuration file", path));
  std::stringstream ss;
  ss << in.rdbuf();
  load_config_text(ss.str(), path, config);
}

}  // namespace mqbase::app
