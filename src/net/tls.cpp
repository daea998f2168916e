#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <new>
#include <system_error>

namespace mqbase::net {
namespace {

// TLS 1.2 without forward secrecy or without AEAD is not offered unless the config asks.
constexpr const char* kDefaultCiphers = "ECDHE+AESGCM:ECDHE+CHACHA20";
constexpr unsigned char kSessionIdContext[] = {'m', 'q', 'b', 'a', 's', 'e'};
constexpr unsigned char kAlpnMqtt[] = {4, 'm', 'q', 't', 't'};
// on_app() moves the ciphertext to `wire` after each piece this large: the write BIO's buffer
// never shrinks, so this bounds what a connection keeps after one large message.
constexpr size_t kWriteChunk = 64 * 1024;
// The least free space on_wire() offers SSL_read: a smaller buffer only takes more calls.
constexpr size_t kReadRoom = 4096;

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

// Empties the thread's OpenSSL error queue on entry and on exit: what one connection (or one
// load) leaves there would otherwise be read as the reason of the next failure on this thread.
struct ErrorQueueScope {
  ErrorQueueScope() { ERR_clear_error(); }
  ~ErrorQueueScope() { ERR_clear_error(); }
  ErrorQueueScope(const ErrorQueueScope&) = delete;
  ErrorQueueScope& operator=(const ErrorQueueScope&) = delete;
};

// OpenSSL's reason for the oldest error in the queue, with the detail it attached:
// "no start line (Expecting: TRUSTED CERTIFICATE)"; `otherwise` when the queue is empty.
std::string openssl_reason(const char* otherwise = "unknown error") {
  const char* data = nullptr;
  int flags = 0;
  unsigned long e = ERR_peek_error_data(&data, &flags);
  if (e == 0) return otherwise;
  if (ERR_SYSTEM_ERROR(e)) return std::system_category().message(ERR_GET_REASON(e));  // the file is named already
  std::string reason;
  if (const char* text = ERR_reason_error_string(e)) {
    reason = text;
  } else {
    char code[256];
    ERR_error_string_n(e, code, sizeof code);
    reason = code;
  }
  if ((flags & ERR_TXT_STRING) && data && *data) reason += std::string(" (") + data + ")";
  return reason;
}

std::string quoted(const char* key, const std::string& value) { return std::string(key) + " \"" + value + "\""; }

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string text(data, size > 0 ? static_cast<size_t>(size) : 0);
  (void)BIO_reset(bio);
  return text;
}

// `tls_cert "…": subject "CN=…", expires 2027-03-01 12:00:00Z; TLS 1.2+; client certificates required`.
std::string describe_certificate(SSL_CTX* ctx, const TlsSettings& settings) {
  std::string text = quoted("tls_cert", settings.cert_file);
  X509* cert = SSL_CTX_get0_certificate(ctx);
  BIO* bio = BIO_new(BIO_s_mem());
  if (cert && bio) {
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    text += ": subject \"" + bio_text(bio) + "\"";
    const ASN1_TIME* not_after = X509_get0_notAfter(cert);
    ASN1_TIME_print_ex(bio, not_after, ASN1_DTFLGS_ISO8601);
    text += ", expires " + bio_text(bio);
    if (X509_cmp_current_time(not_after) < 0) text += " (EXPIRED)";
  }
  BIO_free(bio);
  text += "; TLS " + settings.min_version + "+";
  static constexpr const char* modes[] = {"none", "optional", "required"};
  text += std::string("; client certificates ") + modes[static_cast<int>(settings.client_certificates)];
  return text;
}

// A client offering ALPN "mqtt" gets it; one offering only other protocols gets no ALPN answer
// rather than a failed handshake.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_size, const unsigned char* offered,
                unsigned int offered_size, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_size, kAlpnMqtt, sizeof kAlpnMqtt, offered, offered_size) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

std::string utf8(const ASN1_STRING* value) {
  unsigned char* out = nullptr;
  int size = ASN1_STRING_to_UTF8(&out, value);
  if (size < 0) return {};
  std::string text(reinterpret_cast<const char*>(out), static_cast<size_t>(size));
  OPENSSL_free(out);
  // "admin\0.attacker.example" must not pass for "admin".
  return text.find('\0') == std::string::npos ? text : std::string();
}

// The verified client certificate's subject CN, else its first DNS or email SAN.
std::string identity_of(const SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
    std::string cn = utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
    if (!cn.empty()) return cn;
  }
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::string identity;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && identity.empty(); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS || name->type == GEN_EMAIL) identity = utf8(name->d.ia5);
  }
  GENERAL_NAMES_free(names);
  return identity;
}

}  // namespace

std::shared_ptr<TlsContext> TlsContext::load(const TlsSettings& settings, std::string* error) {
  ErrorQueueScope errors;
  auto fail = [error](std::string why) -> std::shared_ptr<TlsContext> {
    if (error) *error = std::move(why);
    return nullptr;
  };
  const std::string cert = quoted("tls_cert", settings.cert_file);
  const std::string key = quoted("tls_key", settings.key_file);
  const std::string ca = quoted("tls_ca", settings.ca_file);
  if (settings.cert_file.empty() || settings.key_file.empty())
    return fail("TLS needs tls_cert and tls_key (the certificate and its private key)");
  int min_version = settings.min_version == "1.2" ? TLS1_2_VERSION : settings.min_version == "1.3" ? TLS1_3_VERSION : 0;
  if (min_version == 0) return fail(quoted("tls_min_version", settings.min_version) + ": expected \"1.2\" or \"1.3\"");
  if (settings.client_certificates != ClientCertificates::none && settings.ca_file.empty())
    return fail("client certificates for " + cert + " need tls_ca (the CA that signs client certificates)");

  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return fail("TLS context for " + cert + ": " + openssl_reason());
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle connection gives its 2 x ~17 KiB record buffers back (as nginx does): a broker
  // holds many connections that are idle most of the time.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  const std::string ciphers = settings.ciphers.empty() ? std::string(kDefaultCiphers) : settings.ciphers;
  if (SSL_CTX_set_cipher_list(ctx.get(), ciphers.c_str()) != 1)
    return fail(quoted("tls_ciphers", ciphers) + ": " + openssl_reason());
  if (!settings.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx.get(), settings.ciphersuites.c_str()) != 1)
    return fail(quoted("tls_ciphersuites", settings.ciphersuites) + ": " + openssl_reason());

  if (SSL_CTX_use_certificate_chain_file(ctx.get(), settings.cert_file.c_str()) != 1)
    return fail(cert + ": " + openssl_reason());
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), settings.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    unsigned long e = ERR_peek_error();
    bool mismatch = ERR_GET_LIB(e) == ERR_LIB_X509 &&
                    (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH || ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH);
    return fail(key + (mismatch ? " does not match " + cert : std::string()) + ": " + openssl_reason());
  }
  // A key of another type than the certificate's loads into another slot: caught here.
  if (SSL_CTX_check_private_key(ctx.get()) != 1) return fail(key + " does not match " + cert + ": " + openssl_reason());

  if (settings.client_certificates != ClientCertificates::none) {
    if (SSL_CTX_load_verify_locations(ctx.get(), settings.ca_file.c_str(), nullptr) != 1)
      return fail(ca + ": " + openssl_reason());
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.ca_file.c_str());
    if (!names) return fail(ca + ": " + openssl_reason("no certificate in it"));
    SSL_CTX_set_client_CA_list(ctx.get(), names);  // takes `names`
    int mode = SSL_VERIFY_PEER;
    if (settings.client_certificates == ClientCertificates::required) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx.get(), mode, nullptr);
  }
  // Sessions resume through tickets only (TLS 1.2 and 1.3), which the server keeps no state
  // for: no cache that grows with the clients, and no cache lock that every loop's handshakes
  // would take. Resuming one that carries a verified client certificate needs a context id.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_session_id_context(ctx.get(), kSessionIdContext, sizeof kSessionIdContext);
  SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, nullptr);

  std::unique_ptr<TlsContext> context(new TlsContext(ctx.get(), describe_certificate(ctx.get(), settings)));
  ctx.release();  // now context's
  return std::shared_ptr<TlsContext>(std::move(context));
}

TlsContext::TlsContext(SSL_CTX* ctx, std::string description) : ctx_(ctx), description_(std::move(description)) {}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<TlsTransport> TlsContext::make_transport() const {
  return std::make_unique<TlsTransport>(shared_from_this());
}

std::string TlsContext::describe() const { return description_; }

// ---------------------------------------------------------------------------------------------

TlsTransport::TlsTransport(std::shared_ptr<const TlsContext> context) : context_(std::move(context)) {
  ErrorQueueScope errors;
  ssl_ = SSL_new(context_->ctx_);
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  if (!ssl_ || !in_ || !out_) {
    BIO_free(in_);
    BIO_free(out_);
    SSL_free(ssl_);
    throw std::bad_alloc();
  }
  BIO_set_mem_eof_return(in_, -1);  // no bytes yet means "wait for more", not end of stream
  SSL_set_bio(ssl_, in_, out_);
  SSL_set_accept_state(ssl_);
}

TlsTransport::~TlsTransport() {
  SSL_free(ssl_);  // and its BIOs
  ERR_clear_error();
}

bool TlsTransport::on_wire(std::string_view in, std::string& app, std::string& wire) {
  if (state_ != State::open) return false;
  ErrorQueueScope errors;
  size_t written = 0;
  if (!in.empty() && BIO_write_ex(in_, in.data(), in.size(), &written) != 1) return fail(0, wire);
  if (!handshake_done_) {
    int result = SSL_do_handshake(ssl_);
    if (result != 1) {
      if (SSL_get_error(ssl_, result) != SSL_ERROR_WANT_READ) return fail(result, wire);
      drain(wire);
      return true;
    }
    handshake_done_ = true;
    peer_identity_ = identity_of(ssl_);
    if (!early_app_.empty()) {
      write_app(early_app_, wire);
      std::string().swap(early_app_);
      if (state_ != State::open) return false;
    }
  }
  const int result = read_app(app);
  const int stopped = SSL_get_error(ssl_, result);
  if (stopped == SSL_ERROR_ZERO_RETURN) {
    SSL_shutdown(ssl_);  // close_notify received: ours answers it
    drain(wire);
    state_ = State::closed;
    return false;
  }
  if (stopped != SSL_ERROR_WANT_READ) return fail(result, wire);
  drain(wire);
  return state_ == State::open;
}

void TlsTransport::on_app(std::string_view app, std::string& wire) {
  if (state_ != State::open || app.empty()) return;
  if (!handshake_done_) {
    early_app_.append(app);
    return;
  }
  ErrorQueueScope errors;
  write_app(app, wire);
}

void TlsTransport::on_close(std::string& wire) {
  if (state_ != State::open) return;
  state_ = State::closed;
  if (!handshake_done_) return;  // nothing to close politely yet
  ErrorQueueScope errors;
  SSL_shutdown(ssl_);
  drain(wire);
}

std::string TlsTransport::protocol_version() const { return handshake_done_ ? SSL_get_version(ssl_) : ""; }

std::string TlsTransport::cipher() const {
  const SSL_CIPHER* cipher = handshake_done_ ? SSL_get_current_cipher(ssl_) : nullptr;
  return cipher ? SSL_CIPHER_get_name(cipher) : "";
}

bool TlsTransport::fail(int ssl_result, std::string& wire) {
  int code = SSL_get_error(ssl_, ssl_result);
  std::string reason = openssl_reason(code == SSL_ERROR_SYSCALL ? "unexpected end of stream" : "unknown error");
  const long verify = SSL_get_verify_result(ssl_);
  const char* why_not_verified = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : nullptr;
  if (why_not_verified && reason.find(why_not_verified) == std::string::npos)
    reason += std::string(" (") + why_not_verified + ")";
  error_ = (handshake_done_ ? "TLS error: " : "TLS handshake failed: ") + reason;
  state_ = State::failed;
  std::string().swap(early_app_);
  drain(wire);  // the alert OpenSSL made, if any
  return false;
}

void TlsTransport::write_app(std::string_view app, std::string& wire) {
  while (!app.empty()) {
    size_t written = 0;
    if (SSL_write_ex(ssl_, app.data(), std::min(app.size(), kWriteChunk), &written) != 1) {
      fail(0, wire);  // the session broke: the next on_wire() reports it
      return;
    }
    app.remove_prefix(written);
    drain(wire);
  }
}

int TlsTransport::read_app(std::string& app) {
  // Plaintext is never longer than the ciphertext it comes from: growing `app` by what waits
  // in the read BIO, plus a little for a record begun in an earlier call, mostly suffices for
  // all the records at once, and OpenSSL decrypts straight into it.
  size_t filled = app.size();
  int result = 0;
  do {
    if (app.size() - filled < kReadRoom)
      app.resize(filled + BIO_ctrl_pending(in_) + static_cast<size_t>(SSL_pending(ssl_)) + kReadRoom);
    size_t got = 0;
    result = SSL_read_ex(ssl_, app.data() + filled, app.size() - filled, &got);
    filled += got;
  } while (result == 1);
  app.resize(filled);
  return result;
}

void TlsTransport::drain(std::string& wire) {
  const size_t pending = BIO_ctrl_pending(out_);
  if (pending == 0) return;
  const size_t size = wire.size();
  wire.resize(size + pending);
  size_t got = 0;
  if (BIO_read_ex(out_, wire.data() + size, pending, &got) != 1) got = 0;
  wire.resize(size + got);
}

}  // namespace mqbase::net
