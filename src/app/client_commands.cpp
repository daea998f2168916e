// `mqbase pub` and `mqbase sub`: the flags people know from mosquitto_pub / mosquitto_sub, and
// their exit conventions: topics and filters are checked before connecting, every error (ours
// or the server's) is one line on stderr and a non-zero status, the CONNACK code when the
// server refused the connection (docs/cli.md, "Exit status and errors").
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/commands.h"
#include "client/blocking_client.h"
#include "client/topic_check.h"
#include <unistd.h>

namespace mqbase::app {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

struct CommonFlags {
  client::ClientOptions opt;
  std::string version = "311";
  bool no_clean = false;
  std::string will_payload;
  int will_qos = 0;
  int qos = 0;
  std::vector<std::string> user_properties;  // KEY=VALUE
  client::PublishProperties props;
};

void add_common(CLI::App* cmd, CommonFlags& f) {
  cmd->set_help_flag("--help", "Print this help");
  cmd->add_option("-h,--host", f.opt.host, "Broker host (default 127.0.0.1)");
  cmd->add_option("-p,--port", f.opt.port, "Broker port (default 1883)");
  cmd->add_option("-i,--id", f.opt.client_id, "Client id (default: assigned by the server)");
  cmd->add_option("-q,--qos", f.qos, "Quality of service 0, 1 or 2")->check(CLI::Range(0, 2));
  cmd->add_option("-k,--keepalive", f.opt.keep_alive, "Keep-alive in seconds (default 60)");
  cmd->add_option("-u,--username", f.opt.username, "User name");
  cmd->add_option("-P,--pw", f.opt.password, "Password");
  cmd->add_option("-V,--protocol-version", f.version, "mqttv31 / 31, mqttv311 / 311, mqttv5 / 5")
      ->check(CLI::IsMember({"31", "311", "5", "mqttv31", "mqttv311", "mqttv5"}));
  cmd->add_option("-x,--session-expiry", f.opt.session_expiry, "MQTT 5 session expiry interval in seconds");
  cmd->add_flag("-c,--disable-clean-session", f.no_clean, "Keep the session when disconnected");
  cmd->add_option("--will-topic", f.opt.will_topic, "Topic of the will");
  cmd->add_option("--will-payload", f.will_payload, "Payload of the will");
  cmd->add_option("--will-qos", f.will_qos, "QoS of the will")->check(CLI::Range(0, 2));
  cmd->add_flag("--will-retain", f.opt.will_retain, "Retain the will");
}

// Validates and finishes the shared options; prints the error and returns false on a mistake.
bool finish_common(CommonFlags& f, const char* tool) {
  if (f.version == "31" || f.version == "mqttv31") {
    f.opt.version = mqtt::Version::v31;
  } else if (f.version == "5" || f.version == "mqttv5") {
    f.opt.version = mqtt::Version::v5;
  } else {
    f.opt.version = mqtt::Version::v311;
  }
  for (const auto& kv : f.user_properties) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "%s: --user-property wants KEY=VALUE, got '%s'\n", tool, kv.c_str());
      return false;
    }
    f.props.user.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  bool v5_only = !f.props.empty() || f.opt.session_expiry != 0;
  if (v5_only && f.opt.version != mqtt::Version::v5) {
    std::fprintf(stderr, "%s: MQTT 5 properties need -V 5\n", tool);
    return false;
  }
  if (f.opt.will_topic) {
    if (auto problem = client::topic_name_problem(*f.opt.will_topic, "will topic"); !problem.empty()) {
      std::fprintf(stderr, "%s: %s\n", tool, problem.c_str());
      return false;
    }
  }
  f.opt.clean_session = !f.no_clean;
  f.opt.will_payload = f.will_payload;
  f.opt.will_qos = static_cast<uint8_t>(f.will_qos);
  if (f.no_clean && f.opt.client_id.empty()) {
    std::fprintf(stderr, "%s: -c needs a client id (-i)\n", tool);
    return false;
  }
  if (!f.opt.client_id.empty() || f.opt.version != mqtt::Version::v31) return true;
  // MQTT 3.1 has no server-assigned ids: make one as mosquitto's clients do.
  f.opt.client_id = std::string(tool) + "-" + std::to_string(::getpid());
  return true;
}

struct PubFlags {
  CommonFlags common;
  std::vector<std::string> topics;
  std::optional<std::string> message;
  std::optional<std::string> file;
  bool lines = false;
  bool stdin_whole = false;
  bool null_message = false;
  bool retain = false;
};

int run_pub(PubFlags& f) {
  if (!finish_common(f.common, "mqbase pub")) return 1;
  int sources = f.message.has_value() + f.file.has_value() + f.lines + f.stdin_whole + f.null_message;
  if (sources != 1) {
    std::fprintf(stderr, "mqbase pub: give exactly one of -m, -f, -l, -s, -n\n");
    return 1;
  }
  const std::string& topic = f.topics.front();
  // Checked before connecting, as mosquitto_pub does: at QoS 0 the server's only answer to a
  // bad topic is to close the connection, which a publisher that just leaves never sees.
  auto problem = client::topic_name_problem(topic, "publish topic");
  if (problem.empty() && f.common.props.response_topic)
    problem = client::topic_name_problem(*f.common.props.response_topic, "response topic");
  if (!problem.empty()) {
    std::fprintf(stderr, "mqbase pub: %s\n", problem.c_str());
    return 1;
  }
  auto qos = static_cast<uint8_t>(f.common.qos);
  try {
    client::BlockingClient c(f.common.opt);
    c.connect();
    if (f.lines) {
      std::string line;
      while (true) {
        c.wait_readable(0);  // keeps the connection alive while stdin is quiet
        if (!std::getline(std::cin, line)) break;
        c.publish(topic, line, qos, f.retain, f.common.props);
      }
    } else {
      std::string payload;
      if (f.message) {
        payload = *f.message;
      } else if (f.file) {
        std::ifstream in(*f.file, std::ios::binary);
        if (!in) {
          std::fprintf(stderr, "mqbase pub: cannot read %s\n", f.file->c_str());
          return 1;
        }
        std::stringstream ss;
        ss << in.rdbuf();
        payload = ss.str();
      } else if (f.stdin_whole) {
        std::stringstream ss;
        ss << std::cin.rdbuf();
        payload = ss.str();
      }
      c.publish(topic, payload, qos, f.retain, f.common.props);
    }
    // A QoS 0 message has no acknowledgement: make sure the server took it (it would have
    // sent DISCONNECT or closed the connection) before reporting success.
    if (qos == 0) c.sync();
    c.disconnect();
  } catch (const client::ClientError& e) {
    std::fprintf(stderr, "mqbase pub: %s\n", e.what());
    return e.exit_status();
  }
  return 0;
}

struct SubFlags {
  CommonFlags common;
  std::vector<std::string> topics;
  bool verbose = false;
  int count = 0;
  int timeout_s = 0;
  bool retained_only = false;
  bool print_properties = false;
};

// " [key=value, response-topic=..., ...]" for --print-properties.
std::string describe(const client::ReceivedMessage& m) {
  std::string out;
  auto add = [&](const std::string& k, const std::string& v) { out += (out.empty() ? "" : ", ") + k + "=" + v; };
  for (const auto& [k, v] : m.props.user) add(k, v);
  if (m.props.response_topic) add("response-topic", *m.props.response_topic);
  if (m.props.correlation_data) add("correlation-data", *m.props.correlation_data);
  if (m.props.content_type) add("content-type", *m.props.content_type);
  if (m.props.message_expiry) add("message-expiry", std::to_string(*m.props.message_expiry));
  for (uint32_t id : m.subscription_ids) add("subscription-id", std::to_string(id));
  return out.empty() ? out : " [" + out + "]";
}

int run_sub(SubFlags& f) {
  if (!finish_common(f.common, "mqbase sub")) return 1;
  for (const auto& filter : f.topics) {
    if (auto problem = client::topic_filter_problem(filter); !problem.empty()) {
      std::fprintf(stderr, "mqbase sub: %s\n", problem.c_str());
      return 1;
    }
  }
  std::signal(SIGINT, [](int) { g_interrupted = 1; });
  std::signal(SIGTERM, [](int) { g_interrupted = 1; });
  try {
    client::BlockingClient c(f.common.opt);
    c.connect();
    c.subscribe(f.topics, static_cast<uint8_t>(f.common.qos));
    int received = 0;
    auto start = std::chrono::steady_clock::now();
    while (!g_interrupted) {
      if (f.timeout_s > 0 && std::chrono::steady_clock::now() - start >= std::chrono::seconds(f.timeout_s)) {
        std::fprintf(stderr, "mqbase sub: timed out after %d s\n", f.timeout_s);
        c.disconnect();
        return 27;  // mosquitto_sub's exit code for -W
      }
      auto m = c.receive(std::chrono::milliseconds(200));
      if (!m) continue;
      if (f.retained_only && !m->retain) break;
      if (f.verbose) std::cout << m->topic << ' ';
      std::cout << m->payload;
      if (f.print_properties) std::cout << describe(*m);
      std::cout << '\n';
      std::cout.flush();
      if (f.count > 0 && ++received >= f.count) break;
    }
    c.disconnect();
  } catch (const client::ClientError& e) {
    std::fprintf(stderr, "mqbase sub: %s\n", e.what());
    return e.exit_status();
  }
  return 0;
}

}  // namespace

void add_client_commands(CLI::App& app) {
  auto pub = std::make_shared<PubFlags>();
  auto* p = app.add_subcommand("pub", "Publish a message (flags as mosquitto_pub)");
  add_common(p, pub->common);
  p->add_option("-t,--topic", pub->topics, "Topic to publish to")->required()->expected(1);
  p->add_option("-m,--message", pub->message, "Message payload");
  p->add_option("-f,--file", pub->file, "Send the contents of a file as the message");
  p->add_flag("-l,--stdin-line", pub->lines, "Send each line of stdin as a message");
  p->add_flag("-s,--stdin-file", pub->stdin_whole, "Send all of stdin as one message");
  p->add_flag("-n,--null-message", pub->null_message, "Send an empty message");
  p->add_flag("-r,--retain", pub->retain, "Retain the message");
  p->add_option("--user-property", pub->common.user_properties, "MQTT 5 user property KEY=VALUE (repeatable)");
  p->add_option("--response-topic", pub->common.props.response_topic, "MQTT 5 response topic");
  p->add_option("--correlation-data", pub->common.props.correlation_data, "MQTT 5 correlation data");
  p->add_option("--content-type", pub->common.props.content_type, "MQTT 5 content type");
  p->add_option("-e,--message-expiry", pub->common.props.message_expiry, "MQTT 5 message expiry interval (s)");
  p->callback([pub] { set_exit_code(run_pub(*pub)); });

  auto sub = std::make_shared<SubFlags>();
  auto* s = app.add_subcommand("sub", "Subscribe and print messages (flags as mosquitto_sub)");
  add_common(s, sub->common);
  s->add_option("-t,--topic", sub->topics, "Topic filter (repeatable)")->required();
  s->add_flag("-v,--verbose", sub->verbose, "Print the topic before each payload");
  s->add_option("-C,--count", sub->count, "Exit after this many messages");
  s->add_option("-W,--timeout", sub->timeout_s, "Exit with code 27 after this many seconds");
  s->add_flag("-R,--retained-only", sub->retained_only, "Print only retained messages, then exit");
  s->add_flag("--print-properties", sub->print_properties, "Print MQTT 5 properties after each payload");
  s->callback([sub] { set_exit_code(run_sub(*sub)); });
}

}  // namespace mqbase::app
