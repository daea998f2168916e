// TlsTransport driven in memory against an OpenSSL client that also runs on memory BIOs: the
// bytes each side produces are handed to the other until neither has anything more to say.

#include "net/tls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>

#include "tls_test_certs.h"

namespace mqbase::net {
namespace {

using test::tls_test_certs;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::literals;

std::string cert_file(std::string_view name) { return tls_test_certs().file(name); }

TlsSettings server_settings(ClientCertificates client_certificates = ClientCertificates::none) {
  TlsSettings settings;
  settings.cert_file = cert_file("server.pem");
  settings.key_file = cert_file("server.key");
  if (client_certificates != ClientCertificates::none) settings.ca_file = cert_file("ca.pem");
  settings.client_certificates = client_certificates;
  return settings;
}

std::shared_ptr<TlsContext> load_or_fail(const TlsSettings& settings) {
  std::string error;
  auto context = TlsContext::load(settings, &error);
  EXPECT_NE(context, nullptr) << error;
  return context;
}

std::string pattern(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 7 + i / 251);
  return bytes;
}

// The client end: an ordinary OpenSSL client that verifies the server as "localhost".
struct ClientOptions {
  int max_version = 0;  // e.g. TLS1_2_VERSION; 0 = OpenSSL's highest
  std::string cert, key;
  std::string ciphers;              // TLS 1.2 list; "" = OpenSSL's default
  std::vector<unsigned char> alpn;  // wire format: length-prefixed names
  SSL_SESSION* session = nullptr;   // to resume

  ClientOptions& up_to(int version) {
    max_version = version;
    return *this;
  }
  // One of the test certificates: "client" is client.pem and client.key.
  ClientOptions& certificate(const std::string& name) {
    cert = cert_file(name + ".pem");
    key = cert_file(name + ".key");
    return *this;
  }
  ClientOptions& only_ciphers(std::string list) {
    ciphers = std::move(list);
    return *this;
  }
  ClientOptions& offer_alpn(std::vector<unsigned char> protocols) {
    alpn = std::move(protocols);
    return *this;
  }
  ClientOptions& resume(SSL_SESSION* saved) {
    session = saved;
    return *this;
  }
};

class TestClient {
 public:
  explicit TestClient(const ClientOptions& options = {}) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, cert_file("ca.pem").c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (options.max_version) SSL_CTX_set_max_proto_version(ctx_, options.max_version);
    if (!options.ciphers.empty()) SSL_CTX_set_cipher_list(ctx_, options.ciphers.c_str());
    if (!options.cert.empty()) {
      EXPECT_EQ(SSL_CTX_use_certificate_file(ctx_, options.cert.c_str(), SSL_FILETYPE_PEM), 1);
      EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx_, options.key.c_str(), SSL_FILETYPE_PEM), 1);
    }
    ssl_ = SSL_new(ctx_);
    SSL_set1_host(ssl_, "localhost");
    SSL_set_tlsext_host_name(ssl_, "localhost");
    if (!options.alpn.empty()) SSL_set_alpn_protos(ssl_, options.alpn.data(), options.alpn.size());
    if (options.session) SSL_set_session(ssl_, options.session);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_connect_state(ssl_);
    advance();  // the ClientHello
  }
  ~TestClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // Bytes from the server.
  void receive(std::string_view bytes) {
    BIO_write(in_, bytes.data(), static_cast<int>(bytes.size()));
    advance();
  }
  // Bytes for the server.
  std::string take_wire() {
    std::string bytes(BIO_ctrl_pending(out_), '\0');
    if (!bytes.empty()) BIO_read(out_, bytes.data(), static_cast<int>(bytes.size()));
    return bytes;
  }
  void send(std::string_view app) {
    size_t written = 0;
    EXPECT_EQ(SSL_write_ex(ssl_, app.data(), app.size(), &written), 1);
  }
  void close() { SSL_shutdown(ssl_); }

  SSL* ssl() const { return ssl_; }
  bool handshake_done() const { return SSL_is_init_finished(ssl_); }

  std::string app;      // what the server sent
  std::string error;    // why the client gave up, "" while it has not
  bool got_close_notify = false;

 private:
  void advance() {
    ERR_clear_error();
    if (!SSL_is_init_finished(ssl_)) {
      int result = SSL_do_handshake(ssl_);
      if (result != 1) return note(result);
    }
    char buffer[16384];
    size_t got = 0;
    int result;
    while ((result = SSL_read_ex(ssl_, buffer, sizeof buffer, &got)) == 1) app.append(buffer, got);
    note(result);
  }
  void note(int result) {
    int code = SSL_get_error(ssl_, result);
    if (code == SSL_ERROR_ZERO_RETURN) got_close_notify = true;
    if (code != SSL_ERROR_WANT_READ && code != SSL_ERROR_ZERO_RETURN && error.empty()) {
      const char* reason = ERR_reason_error_string(ERR_get_error());
      error = reason ? reason : "SSL_get_error " + std::to_string(code);
    }
    ERR_clear_error();
  }

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
};

// Server transport and client, and the bytes between them.
struct Link {
  Link(Transport& server_end, TestClient& client_end) : server(server_end), client(client_end) {}

  Transport& server;
  TestClient& client;
  size_t piece = 0;  // > 0: the server gets the client's bytes in pieces this large
  std::string server_app;
  std::string last_wire;  // what the server's last on_wire() produced
  bool server_open = true;

  // Moves bytes both ways until both sides are quiet.
  void pump() {
    for (int round = 0; round < 50; ++round) {
      std::string to_server = client.take_wire();
      std::string to_client;
      if (!to_server.empty() && server_open) server_open = feed_server(to_server, to_client);
      if (!to_client.empty()) client.receive(to_client);
      if (to_server.empty() && to_client.empty()) return;
    }
    ADD_FAILURE() << "the two ends never went quiet";
  }
  bool feed_server(std::string_view bytes, std::string& to_client) {
    const size_t step = piece ? piece : bytes.size();
    for (size_t at = 0; at < bytes.size(); at += step) {
      last_wire.clear();
      bool open = server.on_wire(bytes.substr(at, step), server_app, last_wire);
      EXPECT_EQ(ERR_peek_error(), 0u) << "on_wire() left an error in the thread's queue";
      to_client += last_wire;
      if (!open) return false;
    }
    return true;
  }
  // The server sends `app`.
  void server_sends(std::string_view app) {
    std::string wire;
    server.on_app(app, wire);
    client.receive(wire);
  }
};

struct Session {
  explicit Session(const std::shared_ptr<TlsContext>& context, const ClientOptions& options = {})
      : server(context->make_transport()), client(options), link(*server, client) {}
  std::unique_ptr<TlsTransport> server;
  TestClient client;
  Link link;
};

TEST(TlsTransport, HandshakeTls13ThenBytesBothWays) {
  auto context = load_or_fail(server_settings());
  Session s(context);
  s.link.pump();
  ASSERT_TRUE(s.server->handshake_done()) << s.server->error();
  ASSERT_TRUE(s.client.handshake_done()) << s.client.error;
  EXPECT_EQ(s.server->protocol_version(), "TLSv1.3");
  EXPECT_THAT(s.server->cipher(), StartsWith("TLS_"));
  EXPECT_EQ(s.server->name(), "tls");
  EXPECT_EQ(s.server->peer_identity(), "");

  s.client.send("\x10\x10 CONNECT bytes");
  s.link.pump();
  EXPECT_EQ(s.link.server_app, "\x10\x10 CONNECT bytes");
  s.link.server_sends("\x20\x02\x00\x00"sv);
  EXPECT_EQ(s.client.app, "\x20\x02\x00\x00"sv);
  EXPECT_TRUE(s.link.server_open);
}

TEST(TlsTransport, HandshakeTls12UsesAnEcdheAeadCipher) {
  auto context = load_or_fail(server_settings());
  Session s(context, ClientOptions().up_to(TLS1_2_VERSION));
  s.link.pump();
  ASSERT_TRUE(s.server->handshake_done()) << s.server->error();
  EXPECT_EQ(s.server->protocol_version(), "TLSv1.2");
  EXPECT_THAT(s.server->cipher(), StartsWith("ECDHE-"));
  EXPECT_THAT(s.server->cipher(), ::testing::AnyOf(HasSubstr("GCM"), HasSubstr("CHACHA20")));
  s.client.send("hello");
  s.link.pump();
  EXPECT_EQ(s.link.server_app, "hello");
}

TEST(TlsTransport, Tls12CbcCiphersAreNotOfferedByDefault) {
  auto context = load_or_fail(server_settings());
  Session s(context, ClientOptions().up_to(TLS1_2_VERSION).only_ciphers("ECDHE-ECDSA-AES128-SHA"));
  s.link.pump();
  EXPECT_FALSE(s.link.server_open);
  EXPECT_THAT(s.server->error(), StartsWith("TLS handshake failed: "));
  EXPECT_THAT(s.server->error(), HasSubstr("no shared cipher"));
}

TEST(TlsTransport, OneMebibyteInOneCallEachWay) {
  auto context = load_or_fail(server_settings());
  Session s(context);
  s.link.pump();
  const std::string big = pattern(1 << 20);

  std::string wire;
  s.server->on_app(big, wire);
  EXPECT_GT(wire.size(), big.size());
  s.client.receive(wire);
  EXPECT_TRUE(s.client.app == big) << "the client got " << s.client.app.size() << " bytes";

  s.client.send(big);
  std::string to_server = s.client.take_wire(), to_client;
  EXPECT_TRUE(s.server->on_wire(to_server, s.link.server_app, to_client));
  EXPECT_TRUE(s.link.server_app == big) << "the server got " << s.link.server_app.size() << " bytes";
}

TEST(TlsTransport, InputInOneBytePieces) {
  auto context = load_or_fail(server_settings(ClientCertificates::required));
  Session s(context, ClientOptions().certificate("client"));
  s.link.piece = 1;
  s.link.pump();
  ASSERT_TRUE(s.server->handshake_done()) << s.server->error();
  EXPECT_EQ(s.server->peer_identity(), "sensor-17");
  const std::string message = pattern(40000);  // three records
  s.client.send(message);
  s.link.pump();
  EXPECT_TRUE(s.link.server_app == message) << "the server got " << s.link.server_app.size() << " bytes";
}

TEST(TlsTransport, AppBytesInTheFlightThatEndsTheHandshake) {
  auto context = load_or_fail(server_settings());
  Session s(context);
  std::string to_client;
  EXPECT_TRUE(s.link.feed_server(s.client.take_wire(), to_client));  // ClientHello
  s.client.receive(to_client);                                         // ServerHello … Finished
  ASSERT_TRUE(s.client.handshake_done()) << s.client.error;
  s.client.send("CONNECT");  // TLS 1.3 clients send it right behind their Finished
  s.link.pump();
  EXPECT_TRUE(s.server->handshake_done());
  EXPECT_EQ(s.link.server_app, "CONNECT");
}

TEST(TlsTransport, AppBytesBeforeTheHandshakeAreSentAfterIt) {
  auto context = load_or_fail(server_settings());
  Session s(context);
  std::string wire;
  s.server->on_app("early", wire);
  EXPECT_EQ(wire, "");
  s.link.pump();
  ASSERT_TRUE(s.server->handshake_done());
  EXPECT_EQ(s.client.app, "early");
}

TEST(TlsTransport, RequiredClientCertificateMissingFailsTheHandshake) {
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(version);
    auto context = load_or_fail(server_settings(ClientCertificates::required));
    Session s(context, ClientOptions().up_to(version));
    s.link.pump();
    EXPECT_FALSE(s.link.server_open);
    EXPECT_FALSE(s.server->handshake_done());
    EXPECT_EQ(s.server->error(), "TLS handshake failed: peer did not return a certificate");
    EXPECT_FALSE(s.link.last_wire.empty()) << "no alert for the client";
    EXPECT_THAT(s.client.error, HasSubstr("alert"));
    std::string app, wire;
    EXPECT_FALSE(s.server->on_wire("more", app, wire));
  }
}

// The identity the server sees once a client with `options` connected and sent a byte;
// "(failed: <error>)" when it could not.
std::string identity_seen(ClientCertificates mode, const ClientOptions& options) {
  auto context = load_or_fail(server_settings(mode));
  Session s(context, options);
  s.link.pump();
  s.client.send("x");
  s.link.pump();
  if (!s.server->handshake_done() || s.link.server_app != "x") return "(failed: " + s.server->error() + ")";
  return s.server->peer_identity();
}

TEST(TlsTransport, RequiredClientCertificateGivesTheIdentity) {
  EXPECT_EQ(identity_seen(ClientCertificates::required, ClientOptions().certificate("client")), "sensor-17");
}

TEST(TlsTransport, IdentityFallsBackToTheFirstDnsSanWithoutCn) {
  EXPECT_EQ(identity_seen(ClientCertificates::required, ClientOptions().certificate("client_san")),
            "device-42.example");
}

TEST(TlsTransport, OptionalClientCertificateWithAndWithout) {
  EXPECT_EQ(identity_seen(ClientCertificates::optional, ClientOptions()), "");
  EXPECT_EQ(identity_seen(ClientCertificates::optional, ClientOptions().certificate("client")), "sensor-17");
}

TEST(TlsTransport, NoIdentityWithoutClientCertificates) {
  EXPECT_EQ(identity_seen(ClientCertificates::none, ClientOptions().certificate("client")), "");
}

TEST(TlsTransport, ClientCertificateFromAnotherCaIsRefused) {
  for (auto mode : {ClientCertificates::optional, ClientCertificates::required}) {
    auto context = load_or_fail(server_settings(mode));
    Session s(context, ClientOptions().certificate("stranger"));
    s.link.pump();
    EXPECT_FALSE(s.link.server_open);
    EXPECT_EQ(s.server->peer_identity(), "");
    EXPECT_EQ(s.server->error(),
              "TLS handshake failed: certificate verify failed (unable to get local issuer certificate)");
    EXPECT_THAT(s.client.error, HasSubstr("alert"));
  }
}

TEST(TlsTransport, MinVersion13RefusesATls12Client) {
  TlsSettings settings = server_settings();
  settings.min_version = "1.3";
  auto context = load_or_fail(settings);
  Session s(context, ClientOptions().up_to(TLS1_2_VERSION));
  s.link.pump();
  EXPECT_FALSE(s.link.server_open);
  EXPECT_EQ(s.server->error(), "TLS handshake failed: unsupported protocol");
  EXPECT_THAT(s.client.error, HasSubstr("protocol version"));

  Session modern(context);
  modern.link.pump();
  EXPECT_TRUE(modern.server->handshake_done()) << modern.server->error();
}

TEST(TlsTransport, PlainMqttConnectIsATlsError) {
  auto context = load_or_fail(server_settings());
  auto server = context->make_transport();
  // CONNECT, MQTT 5, clean start, keep-alive 60, client id "c1".
  const std::string connect("\x10\x0f\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x02" "c1", 17);
  std::string app, wire;
  EXPECT_FALSE(server->on_wire(connect, app, wire));
  EXPECT_THAT(server->error(), StartsWith("TLS handshake failed: "));
  EXPECT_THAT(server->error(), HasSubstr("wrong version number"));
  EXPECT_EQ(app, "");
  EXPECT_EQ(wire, "") << "OpenSSL sends no alert to what does not look like TLS at all";
  EXPECT_EQ(ERR_peek_error(), 0u);

  // The next connection on this thread starts clean.
  Session s(context);
  s.link.pump();
  EXPECT_TRUE(s.server->handshake_done()) << s.server->error();
}

TEST(TlsTransport, CloseNotifyFromTheClient) {
  auto context = load_or_fail(server_settings());
  Session s(context);
  s.link.pump();
  s.client.send("last words");
  s.client.close();
  s.link.pump();
  EXPECT_FALSE(s.link.server_open);
  EXPECT_EQ(s.server->error(), "");
  EXPECT_EQ(s.link.server_app, "last words");
  EXPECT_TRUE(s.client.got_close_notify) << "the server did not answer close_notify";

  std::string wire;
  s.server->on_close(wire);
  EXPECT_EQ(wire, "") << "close_notify sent twice";
}

TEST(TlsTransport, CloseNotifyFromTheServer) {
  auto context = load_or_fail(server_settings());
  Session s(context);
  s.link.pump();
  std::string wire;
  s.server->on_close(wire);
  s.client.receive(wire);
  EXPECT_TRUE(s.client.got_close_notify);
  EXPECT_EQ(s.client.error, "");

  wire.clear();
  s.server->on_app("after the end", wire);
  EXPECT_EQ(wire, "");
}

TEST(TlsTransport, CloseBeforeTheHandshakeSendsNothing) {
  auto context = load_or_fail(server_settings());
  auto server = context->make_transport();
  std::string wire;
  server->on_close(wire);
  EXPECT_EQ(wire, "");
}

TEST(TlsTransport, AlpnMqttIsAcceptedAndOthersIgnored) {
  auto context = load_or_fail(server_settings());
  Session mqtt(context, ClientOptions().offer_alpn({4, 'm', 'q', 't', 't'}));
  mqtt.link.pump();
  const unsigned char* selected = nullptr;
  unsigned int size = 0;
  SSL_get0_alpn_selected(mqtt.client.ssl(), &selected, &size);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(selected), size), "mqtt");

  Session h2(context, ClientOptions().offer_alpn({2, 'h', '2'}));
  h2.link.pump();
  EXPECT_TRUE(h2.server->handshake_done()) << h2.server->error();
  SSL_get0_alpn_selected(h2.client.ssl(), &selected, &size);
  EXPECT_EQ(size, 0u);
}

TEST(TlsTransport, ResumedSessionKeepsTheClientIdentity) {
  auto context = load_or_fail(server_settings(ClientCertificates::required));
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(version);
    ClientOptions options = ClientOptions().up_to(version).certificate("client");
    SSL_SESSION* session = nullptr;
    {
      Session first(context, options);
      first.link.pump();
      ASSERT_TRUE(first.server->handshake_done()) << first.server->error();
      session = SSL_get1_session(first.client.ssl());
      first.client.close();  // OpenSSL forgets a session that ended without close_notify
    }
    ASSERT_NE(session, nullptr);
    EXPECT_TRUE(SSL_SESSION_is_resumable(session));
    options.resume(session);
    Session second(context, options);
    second.link.pump();
    SSL_SESSION_free(session);
    ASSERT_TRUE(second.server->handshake_done()) << second.server->error();
    EXPECT_TRUE(SSL_session_reused(second.client.ssl()));
    EXPECT_EQ(second.server->peer_identity(), "sensor-17");
  }
}

TEST(TlsContext, ReloadMakesANewContextWhileOldTransportsKeepTheirs) {
  auto old_context = load_or_fail(server_settings());
  std::weak_ptr<TlsContext> old_alive = old_context;
  auto old_server = old_context->make_transport();

  auto new_context = load_or_fail(server_settings(ClientCertificates::required));
  old_context = new_context;  // what the listener does on SIGHUP
  EXPECT_FALSE(old_alive.expired()) << "the transport must keep its context";

  TestClient client;  // no certificate: fine for the old settings
  Link link(*old_server, client);
  link.pump();
  EXPECT_TRUE(old_server->handshake_done()) << old_server->error();
  client.send("still here");
  link.pump();
  EXPECT_EQ(link.server_app, "still here");

  Session refused(new_context);
  refused.link.pump();
  EXPECT_THAT(refused.server->error(), HasSubstr("peer did not return a certificate"));

  old_server.reset();
  EXPECT_TRUE(old_alive.expired());
}

TEST(TlsContext, SharedByConnectionsOnSeveralThreads) {
  auto context = load_or_fail(server_settings(ClientCertificates::optional));
  std::vector<std::thread> loops;
  std::atomic<int> done{0};
  for (int loop = 0; loop < 4; ++loop) {
    loops.emplace_back([&context, &done, loop] {
      for (int i = 0; i < 5; ++i) {
        Session s(context, (loop + i) % 2 ? ClientOptions().certificate("client") : ClientOptions());
        s.link.pump();
        s.client.send("ping");
        s.link.pump();
        if (s.server->handshake_done() && s.link.server_app == "ping") ++done;
      }
    });
  }
  for (auto& loop : loops) loop.join();
  EXPECT_EQ(done.load(), 20);
}

TEST(TlsContext, DescribeNamesTheSubjectAndExpiry) {
  auto context = load_or_fail(server_settings(ClientCertificates::required));
  EXPECT_THAT(context->describe(), HasSubstr(cert_file("server.pem")));
  EXPECT_THAT(context->describe(), HasSubstr("subject \"CN=localhost\""));
  EXPECT_THAT(context->describe(), ::testing::ContainsRegex("expires 20[0-9][0-9]-[0-9][0-9]-[0-9][0-9] "));
  EXPECT_THAT(context->describe(), HasSubstr("client certificates required"));
  EXPECT_THAT(context->describe(), ::testing::Not(HasSubstr("EXPIRED")));
}

TEST(TlsContext, LoadErrorsNameTheFileAndTheReason) {
  const std::string garbage = (tls_test_certs().dir / "garbage.pem").string();
  std::ofstream(garbage) << "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  const std::string server_pem = cert_file("server.pem"), client_key = cert_file("client.key");
  struct Case {
    std::function<void(TlsSettings&)> change;  // to server_settings()
    std::vector<std::string> expected;         // in the error
  };
  const Case cases[] = {
      {[](TlsSettings& s) { s.cert_file = "/nonexistent/server.pem"; },
       {"tls_cert \"/nonexistent/server.pem\": No such file or directory"}},
      {[](TlsSettings& s) { s.key_file = "/nonexistent/server.key"; },
       {"tls_key \"/nonexistent/server.key\": No such file or directory"}},
      {[&](TlsSettings& s) { s.key_file = client_key; },
       {"tls_key \"" + client_key + "\" does not match tls_cert \"" + server_pem + "\": key values mismatch"}},
      {[&](TlsSettings& s) { s.cert_file = garbage; }, {"tls_cert \"" + garbage + "\": bad base64 decode"}},
      {[&](TlsSettings& s) { s.key_file = garbage; }, {"tls_key \"" + garbage + "\": "}},
      {[](TlsSettings& s) { s.client_certificates = ClientCertificates::required; }, {"need tls_ca", server_pem}},
      {[](TlsSettings& s) {
         s.client_certificates = ClientCertificates::optional;
         s.ca_file = "/nonexistent/ca.pem";
       },
       {"tls_ca \"/nonexistent/ca.pem\": No such file or directory"}},
      {[](TlsSettings& s) { s.min_version = "1.1"; }, {"tls_min_version \"1.1\": expected \"1.2\" or \"1.3\""}},
      {[](TlsSettings& s) { s.ciphers = "NOT-A-CIPHER"; }, {"tls_ciphers \"NOT-A-CIPHER\": no cipher match"}},
      {[](TlsSettings& s) { s.ciphersuites = "TLS_NOT_A_SUITE"; }, {"tls_ciphersuites \"TLS_NOT_A_SUITE\": "}},
      {[](TlsSettings& s) { s = TlsSettings{}; }, {"tls_cert and tls_key"}},
  };
  for (const Case& c : cases) {
    TlsSettings settings = server_settings();
    c.change(settings);
    std::string error;
    EXPECT_EQ(TlsContext::load(settings, &error), nullptr) << c.expected.front();
    for (const std::string& part : c.expected) EXPECT_THAT(error, HasSubstr(part));
    EXPECT_EQ(ERR_peek_error(), 0u);
  }
}

TEST(TlsContext, ConfiguredCiphersAreUsed) {
  TlsSettings chacha_only = server_settings();
  chacha_only.ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305";
  Session s(load_or_fail(chacha_only), ClientOptions().up_to(TLS1_2_VERSION));
  s.link.pump();
  EXPECT_EQ(s.server->cipher(), "ECDHE-ECDSA-CHACHA20-POLY1305");
}

}  // namespace
}  // namespace mqbase::net
