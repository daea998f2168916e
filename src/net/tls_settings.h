// TlsSettings: a listener's TLS configuration as the config file gives it ([[listener]] tls_*
// keys, docs/security.md). Plain strings: net/tls.h turns them into an OpenSSL context.
#pragma once
#include <string>

namespace mqbase::net {

enum class ClientCertificates { none, optional, required };

struct TlsSettings {
  std::string cert_file;  // PEM: the server's certificate, then its intermediates
  std::string key_file;   // PEM: its private key
  std::string ca_file;    // PEM: CAs that client certificates are verified against
  ClientCertificates client_certificates = ClientCertificates::none;  // needs ca_file unless none
  std::string min_version = "1.2";  // "1.2" or "1.3"
  std::string ciphers;       // TLS 1.2 cipher list (OpenSSL syntax); "" = the modern default
  std::string ciphersuites;  // TLS 1.3 suites; "" = OpenSSL's default
  bool enabled() const { return !cert_file.empty(); }
};

}  // namespace mqbase::net
