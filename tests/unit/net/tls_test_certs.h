// Certificates for the TLS tests (and for trying a TLS listener by hand): a CA, a server
// certificate for localhost and client certificates, made with the `openssl` command line in
// a temporary directory. EC P-256 keys, valid ten years. Test code only, not the library.
//
//   ca.pem, ca.key               CN=mqbase test CA
//   server.pem, server.key       CN=localhost, SAN DNS:localhost, IP:127.0.0.1, signed by ca
//   client.pem, client.key       CN=sensor-17, signed by ca
//   client_san.pem, .key         no CN (O=mqbase tests), SAN DNS:device-42.example, signed by ca
//   other_ca.pem, other_ca.key   CN=another CA
//   stranger.pem, stranger.key   CN=stranger, signed by other_ca
//
// Header-only: the test CMakeLists compiles only *_test.cpp files.
// Thread-safety: tls_test_certs() may be called from any thread (a function-local static).
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mqbase::net::test {

struct TlsTestCerts {
  std::filesystem::path dir;
  // The path of one of the files above.
  std::string file(std::string_view name) const { return (dir / name).string(); }
};

namespace tls_test_certs_detail {

// The extensions each kind of certificate gets: our own file, so that the system's
// openssl.cnf changes nothing.
inline constexpr const char* kConfig = R"([req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
[client_san]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:device-42.example, email:device-42@example.com
)";

inline void run(const std::filesystem::path& dir, const std::string& command) {
  const std::filesystem::path log = dir / "openssl.log";
  const std::string line = "cd '" + dir.string() + "' && " + command + " >'" + log.string() + "' 2>&1";
  if (std::system(line.c_str()) == 0) return;
  std::ifstream output(log);
  std::stringstream text;
  text << output.rdbuf();
  throw std::runtime_error("TLS test certificates: `" + command + "` failed: " + text.str());
}

// `name`.key and `name`.pem with `subject` and the extensions of config section `kind`,
// signed by `issuer` (its .pem and .key), or by itself when `issuer` is empty.
inline void make_certificate(const std::filesystem::path& dir, const std::string& name, const std::string& subject,
                      const std::string& kind, const std::string& issuer) {
  run(dir, "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + name + ".key");
  if (issuer.empty()) {
    run(dir, "openssl req -new -x509 -config openssl.cnf -extensions " + kind + " -key " + name + ".key -subj '" +
                 subject + "' -days 3650 -out " + name + ".pem");
    return;
  }
  run(dir, "openssl req -new -config openssl.cnf -key " + name + ".key -subj '" + subject + "' -out " + name +
               ".csr");
  run(dir, "openssl x509 -req -in " + name + ".csr -CA " + issuer + ".pem -CAkey " + issuer + ".key -CAcreateserial" +
               " -days 3650 -extfile openssl.cnf -extensions " + kind + " -out " + name +
               ".pem");
}

}  // namespace tls_test_certs_detail

// Makes the set in `dir` (created if missing). Throws std::runtime_error with the command
// that failed and its output.
inline TlsTestCerts make_tls_test_certs(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "openssl.cnf") << tls_test_certs_detail::kConfig;
  tls_test_certs_detail::make_certificate(dir, "ca", "/CN=mqbase test CA", "ca", "");
  tls_test_certs_detail::make_certificate(dir, "server", "/CN=localhost", "server", "ca");
  tls_test_certs_detail::make_certificate(dir, "client", "/CN=sensor-17", "client", "ca");
  tls_test_certs_detail::make_certificate(dir, "client_san", "/O=mqbase tests", "client_san", "ca");
  tls_test_certs_detail::make_certificate(dir, "other_ca", "/CN=another CA", "ca", "");
  tls_test_certs_detail::make_certificate(dir, "stranger", "/CN=stranger", "client", "other_ca");
  return TlsTestCerts{dir};
}

// This process's set, made in a new temporary directory on first use and removed at exit.
inline const TlsTestCerts& tls_test_certs() {
  struct Owner {
    TlsTestCerts certs;
    Owner() {
      std::string pattern = (std::filesystem::temp_directory_path() / "mqbase-tls-XXXXXX").string();
      if (!::mkdtemp(pattern.data())) throw std::runtime_error("TLS test certificates: mkdtemp failed");
      try {
        certs = make_tls_test_certs(pattern);
      } catch (...) {
        std::error_code ignored;
        std::filesystem::remove_all(pattern, ignored);
        throw;
      }
    }
    ~Owner() {
      std::error_code ignored;
      std::filesystem::remove_all(certs.dir, ignored);
    }
  };
  static const Owner owner;
  return owner.certs;
}

}  // namespace mqbase::net::test
