// ingest_load: the load generator of bench/ingest.sh. It connects N publishers (MQTT 3.1.1,
// one thread each, blocking sockets), each publishing JSON telemetry to db/append/<table> as
// TSBS's IoT data shapes it: trucks with a name tag and readings every 10 s. A message carries
// --rows rows of one truck ([name, time, value] rows of neo's tag table, the value a random
// walk with two decimals). At QoS 1 each publisher keeps --window messages in flight and
// counts PUBACKs; the run reports rows/s from the first PUBLISH to the last PUBACK.
//
// So that the broker, not the generator, is what is measured: each publisher makes all its
// packets before the clock starts (in --mode readings; a --rows message is made as it goes,
// since a run of them is gigabytes), and writes as many as its window allows in one send()
// of up to 64 KiB, reading every PUBACK that has arrived at once.
//
//   ingest_load --port P [--publishers 4] [--messages 2000] [--rows 1000] [--window 16]
//               [--qos 1] [--table bench] [--trucks 1000] [--mode rows|readings]
// Prints one line: "rows=N messages=M seconds=S rows_per_sec=R".
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mqtt/encoder.h"
#include "mqtt/packet.h"

namespace {

struct Options {
  int port = 1883;
  int publishers = 4;
  int messages = 2000;  // per publisher
  int rows = 1000;
  int window = 16;
  int qos = 1;
  int trucks = 1000;
  std::string table = "bench";
  // "rows": JSON rows to db/append/<table>; "readings": one TSBS truck reading per message (7
  // fields, JSON object) to fleet/<fleet>/truck_<n>/readings, for an [[ingest]] rule
  // `topic = "fleet/+fleet/+name/readings"`, `time = "$.time"`.
  std::string mode = "rows";
};

bool send_all(int fd, std::string_view s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Takes one whole packet off the front of `buf` (its body into `body`); returns its first
// byte, or -1 when `buf` holds no whole packet yet.
int take_packet(std::string& buf, std::string& body) {
  if (buf.size() < 2) return -1;
  size_t len = 0, mult = 1, i = 1;
  bool complete = false;
  while (i < buf.size() && i < 5) {
    auto b = static_cast<uint8_t>(buf[i]);
    len += (b & 127) * mult;
    mult *= 128;
    ++i;
    if (!(b & 128)) {
      complete = true;
      break;
    }
  }
  if (!complete || buf.size() < i + len) return -1;
  int type = static_cast<uint8_t>(buf[0]);
  body = buf.substr(i, len);
  buf.erase(0, i + len);
  return type;
}

// Reads one packet's fixed header + body into `body`; returns its first byte, or -1.
int read_packet(int fd, std::string& buf, std::string& body) {
  for (;;) {
    if (int type = take_packet(buf, body); type >= 0) return type;
    char tmp[65536];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return -1;
    buf.append(tmp, static_cast<size_t>(n));
  }
}

int connect_client(const Options& o, const std::string& id) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(o.port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  mqbase::mqtt::Connect c;
  c.client_id = id;
  c.keep_alive = 60;
  std::string out;
  mqbase::mqtt::encode(mqbase::mqtt::Packet{c}, mqbase::mqtt::Version::v311, out);
  if (!send_all(fd, out)) return -1;
  std::string buf, body;
  if (read_packet(fd, buf, body) != 0x20) return -1;
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--port") o.port = std::atoi(v.c_str());
    else if (k == "--publishers") o.publishers = std::atoi(v.c_str());
    else if (k == "--messages") o.messages = std::atoi(v.c_str());
    else if (k == "--rows") o.rows = std::atoi(v.c_str());
    else if (k == "--window") o.window = std::atoi(v.c_str());
    else if (k == "--qos") o.qos = std::atoi(v.c_str());
    else if (k == "--trucks") o.trucks = std::atoi(v.c_str());
    else if (k == "--table") o.table = v;
    else if (k == "--mode") o.mode = v;
    else {
      std::fprintf(stderr, "ingest_load: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  const std::string topic = "db/append/" + o.table;
  const int rows_per_message = o.mode == "rows" ? o.rows : 1;
  const int64_t t0 = 1'700'000'000'000'000'000LL;
  std::atomic<uint64_t> acked_rows{0}, acked_messages{0};
  std::atomic<bool> failed{false};
  // Every publisher connects (and in --mode readings makes its packets) before the clock starts.
  std::barrier ready(o.publishers + 1);
  std::vector<std::thread> threads;
  for (int p = 0; p < o.publishers; ++p) {
    threads.emplace_back([&, p] {
      int fd = connect_client(o, "ingest-load-" + std::to_string(p));
      std::mt19937_64 rng(p + 1);
      std::uniform_int_distribution<int> step(-50, 50);
      std::vector<int64_t> walk(o.trucks, 2000);  // hundredths
      std::vector<int64_t> next_time(o.trucks, t0);
      std::string payload, buf, body, topic_buf;
      uint16_t pid = 0;
      int made = 0;
      // Appends message number `made` of this publisher, as a PUBLISH packet, to `out`.
      auto make = [&](std::string& out) {
        int truck = (p + made++ * o.publishers) % o.trucks;
        std::string name = "truck_" + std::to_string(truck);
        payload.clear();
        if (o.mode == "readings") {
          walk[truck] += step(rng);
          char json[512];
          double v = walk[truck] / 100.0;
          int n = std::snprintf(json, sizeof json,
                                "{\"time\":%lld,\"latitude\":%.5f,\"longitude\":%.5f,\"elevation\":%d,"
                                "\"velocity\":%.1f,\"heading\":%d,\"grade\":%.1f,\"fuel_consumption\":%.2f}",
                                static_cast<long long>(next_time[truck]), 52.0 + v / 1000, 4.0 + v / 1000,
                                static_cast<int>(v) % 500, std::fabs(v) / 10, truck % 360, std::fmod(std::fabs(v), 10),
                                10 + std::fmod(std::fabs(v), 5));
          payload.assign(json, static_cast<size_t>(n));
          next_time[truck] += 10'000'000'000LL;
          topic_buf = "fleet/" + std::string(truck % 2 ? "east" : "west") + "/" + name + "/readings";
        } else {
          payload += '[';
          for (int r = 0; r < o.rows; ++r) {
            walk[truck] += step(rng);
            char row[128];
            int64_t v = walk[truck];
            int n = std::snprintf(row, sizeof row, "%s[\"%s\",%lld,%lld.%02lld]", r ? "," : "", name.c_str(),
                                  static_cast<long long>(next_time[truck]), static_cast<long long>(v / 100),
                                  static_cast<long long>(std::llabs(v % 100)));
            if (v < 0 && v > -100) {
              // -0.xx: the integer part alone would lose the sign
              n = std::snprintf(row, sizeof row, "%s[\"%s\",%lld,-0.%02lld]", r ? "," : "", name.c_str(),
                                static_cast<long long>(next_time[truck]), static_cast<long long>(-v));
            }
            payload.append(row, static_cast<size_t>(n));
            next_time[truck] += 10'000'000'000LL;
          }
          payload += ']';
        }
        pid = static_cast<uint16_t>(pid % 65535 + 1);
        mqbase::mqtt::encode_publish(out, mqbase::mqtt::Version::v311, o.mode == "rows" ? topic : topic_buf, payload,
                                     static_cast<uint8_t>(o.qos), false, false, o.qos ? pid : 0);
      };
      std::string made_all;     // --mode readings: every packet, made before the clock starts
      std::vector<size_t> ends;  // where each of them ends in made_all
      if (fd >= 0 && o.mode == "readings") {
        ends.reserve(static_cast<size_t>(o.messages));
        for (int k = 0; k < o.messages; ++k) {
          make(made_all);
          ends.push_back(made_all.size());
        }
      }
      ready.arrive_and_wait();
      if (fd < 0) {
        failed = true;
        return;
      }
      constexpr size_t kSendBytes = 65536;
      std::string out;
      int inflight = 0, sent = 0;
      while (sent < o.messages || inflight > 0) {
        // As many as the window allows (all at QoS 0), in one send of up to 64 KiB.
        int room = o.qos ? o.window - inflight : o.messages;
        int k = 0;
        const char* bytes;
        size_t size;
        if (o.mode == "readings") {
          size_t from = sent ? ends[sent - 1] : 0;
          while (k < room && sent + k < o.messages && (k == 0 || ends[sent + k] - from <= kSendBytes)) ++k;
          bytes = made_all.data() + from;
          size = k ? ends[sent + k - 1] - from : 0;
        } else {
          out.clear();
          while (k < room && sent + k < o.messages && (k == 0 || out.size() < kSendBytes)) {
            make(out);
            ++k;
          }
          bytes = out.data();
          size = out.size();
        }
        if (k > 0 && !send_all(fd, std::string_view(bytes, size))) {
          failed = true;
          return;
        }
        sent += k;
        if (o.qos == 0) {
          acked_rows += static_cast<uint64_t>(k) * rows_per_message;
          acked_messages += static_cast<uint64_t>(k);
          continue;
        }
        inflight += k;
        if (inflight < o.window && sent < o.messages) continue;
        // The window is full (or all is sent): wait for PUBACKs, and count all that came.
        char tmp[65536];
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) {
          failed = true;
          return;
        }
        buf.append(tmp, static_cast<size_t>(n));
        for (int type; (type = take_packet(buf, body)) >= 0;) {
          if ((type & 0xf0) != 0x40) continue;
          --inflight;
          acked_rows += static_cast<uint64_t>(rows_per_message);
          ++acked_messages;
        }
      }
      // QoS 0: a PINGREQ round trip tells that the broker has read everything sent before it.
      if (o.qos == 0) {
        send_all(fd, std::string("\xc0\x00", 2));
        for (int type = 0; type >= 0 && type != 0xd0;) type = read_packet(fd, buf, body);
      }
      ::close(fd);
    });
  }
  ready.arrive_and_wait();
  auto start = std::chrono::steady_clock::now();
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed) {
    std::fprintf(stderr, "ingest_load: a connection failed\n");
    return 1;
  }
  std::printf("rows=%llu messages=%llu seconds=%.3f rows_per_sec=%.0f\n", static_cast<unsigned long long>(acked_rows.load()),
              static_cast<unsigned long long>(acked_messages.load()), secs, acked_rows.load() / secs);
  return 0;
}
