// `mqbase sql`: the SQL shell. It talks to a running server over its HTTP API (POST /db/query,
// docs/http.md) and has three modes (docs/cli.md#mqbase-sql):
//   - interactive, when stdin is a terminal and no -e is given: libedit line editing, history in
//     ~/.mqbase_sql_history, statements ended by ';' over as many lines as they take, backslash
//     commands (\q, \?, \timing, \d); an error prints and the shell goes on;
//   - -e QUERY: runs it; exit 0, 1 on an SQL error, 2 when no server answers;
//   - a script on stdin: its statements in order, stopping at the first error (exit 1), as
//     `psql -v ON_ERROR_STOP=1` does.
// The answer is printed in --format (box by default: the server's boxed table) as it arrives.
//
// The shell splits the input into statements itself (the server takes one statement per
// request), with PostgreSQL's lexical rules for what hides a ';': quotes, E'' escapes,
// dollar quotes, comments and parentheses.
//
// The HTTP client is a small blocking one over a POSIX socket, one request per connection.
// Single-threaded; SIGINT (interactive only) sets a flag that the client polls.
#include <editline/readline.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <clocale>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/commands.h"

namespace mqbase::app {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitSqlError = 1;
constexpr int kExitUnreachable = 2;

volatile std::sig_atomic_t g_interrupted = 0;

void on_sigint(int) { g_interrupted = 1; }

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n\f\v");
  return std::string(s.substr(b, e - b + 1));
}

// ---- The server's address ----------------------------------------------------------------

// http://host[:port][/prefix]: the prefix (a reverse proxy's) goes before /db/query.
struct ServerUrl {
  std::string text;  // as given, for messages
  std::string host;  // without the brackets of an IPv6 address
  std::string port = "80";
  std::string prefix;  // "" or "/something", no trailing slash
  std::string host_header;
};

bool parse_url(std::string_view text, ServerUrl* out, std::string* error) {
  out->text = std::string(text);
  std::string_view rest = text;
  if (rest.starts_with("https://")) {
    *error = "https is not supported yet (the server speaks plain HTTP): use http://";
    return false;
  }
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    out->prefix = std::string(rest.substr(slash));
    while (!out->prefix.empty() && out->prefix.back() == '/') out->prefix.pop_back();
  }
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      *error = "'" + std::string(text) + "': an IPv6 address wants its closing ']'";
      return false;
    }
    out->host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        *error = "'" + std::string(text) + "': expected ':' and a port after ']'";
        return false;
      }
      out->port = std::string(after.substr(1));
    }
  } else {
    size_t colon = authority.rfind(':');
    out->host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) out->port = std::string(authority.substr(colon + 1));
  }
  if (out->host.empty()) {
    *error = "'" + std::string(text) + "' names no host: use http://HOST:PORT";
    return false;
  }
  if (out->port.empty() || out->port.find_first_not_of("0123456789") != std::string::npos ||
      out->port.size() > 5 || std::stoi(out->port) == 0 || std::stoi(out->port) > 65535) {
    *error = "'" + std::string(text) + "': the port must be a number from 1 to 65535";
    return false;
  }
  bool v6 = out->host.find(':') != std::string::npos;
  out->host_header = (v6 ? "[" + out->host + "]" : out->host) + ":" + out->port;
  return true;
}

// application/x-www-form-urlencoded.
void form_encode(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += ch;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

// ---- The HTTP client ---------------------------------------------------------------------
//
// One request per connection (Connection: close), in HTTP/1.1 so that a streamed answer comes
// chunked: a stream the server cuts short (a CSV answer whose query failed after its first
// rows) then ends without its last chunk, which HTTP/1.0's "the end is the close" could not
// tell from a complete answer. Body bytes go to the caller as they arrive. A read waits at
// most 200 ms at a time so that Ctrl-C is seen; closing the connection is how a query is
// cancelled (the server stops the query of a client that went away).

struct HttpOutcome {
  enum class Kind {
    answered,     // a complete answer with `status`
    unreachable,  // no connection, or no HTTP answer on it: `error`
    cut_short,    // an answer began (`status`) and ended early: `error`
    interrupted,  // Ctrl-C
  };
  Kind kind = Kind::unreachable;
  int status = 0;
  std::string error;
};

// Gets body bytes with the answer's status, piece by piece.
using BodyFn = std::function<void(int status, std::string_view bytes)>;

class HttpConnection {
 public:
  HttpConnection() = default;
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;
  ~HttpConnection() {
    if (fd_ >= 0) ::close(fd_);
  }

  // One request and its answer. `body` may be empty (GET).
  HttpOutcome exchange(const ServerUrl& url, std::string_view method, const std::string& path,
                       std::string_view content_type, std::string_view body, const BodyFn& on_body) {
    HttpOutcome o;
    if (!connect_to(url, &o.error)) return finish(o, HttpOutcome::Kind::unreachable);
    std::string request = std::string(method) + " " + path + " HTTP/1.1\r\nHost: " + url.host_header +
                          "\r\nUser-Agent: mqbase-sql/" MQBASE_VERSION "\r\nAccept-Encoding: identity\r\n"
                          "Connection: close\r\n";
    if (!content_type.empty()) request += "Content-Type: " + std::string(content_type) + "\r\n";
    if (!body.empty() || method == "POST") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    request += "\r\n";
    request += body;
    if (!send_all(request)) return finish(o, HttpOutcome::Kind::unreachable);
    if (!read_head(&o.status, &o.error)) return finish(o, HttpOutcome::Kind::unreachable);
    auto deliver = [&](std::string_view b) {
      if (!b.empty()) on_body(o.status, b);
    };
    bool complete = chunked_ ? read_chunked(deliver) : read_plain(deliver);
    if (!complete) {
      if (error_.empty()) error_ = "the connection closed before its end";
      return finish(o, HttpOutcome::Kind::cut_short);
    }
    o.kind = HttpOutcome::Kind::answered;
    return o;
  }

 private:
  HttpOutcome& finish(HttpOutcome& o, HttpOutcome::Kind kind) {
    o.kind = interrupted_ ? HttpOutcome::Kind::interrupted : kind;
    if (o.error.empty()) o.error = error_;
    return o;
  }

  // Waits for `events` on the socket; false on Ctrl-C or a poll error.
  bool wait_for(short events, int timeout_ms) {
    for (int waited = 0;;) {
      if (g_interrupted) {
        interrupted_ = true;
        error_ = "interrupted";
        return false;
      }
      pollfd p{fd_, events, 0};
      int n = ::poll(&p, 1, 200);
      if (n > 0) return true;
      if (n < 0 && errno != EINTR) {
        error_ = std::strerror(errno);
        return false;
      }
      waited += 200;
      if (timeout_ms > 0 && waited >= timeout_ms) {
        error_ = "timed out";
        return false;
      }
    }
  }

  bool connect_to(const ServerUrl& url, std::string* error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &found); rc != 0) {
      *error = "cannot resolve " + url.host + ": " + ::gai_strerror(rc);
      return false;
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, ::freeaddrinfo);
    std::string why = "no address";
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      fd_ = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (fd_ < 0) {
        why = std::strerror(errno);
        continue;
      }
      int rc = ::connect(fd_, a->ai_addr, a->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) {
        error_.clear();
        if (wait_for(POLLOUT, 10'000)) {
          int so = 0;
          socklen_t len = sizeof so;
          ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &so, &len);
          rc = so == 0 ? 0 : -1;
          errno = so;
          if (rc != 0) why = std::strerror(so);
        } else {
          why = error_;
        }
      } else if (rc != 0) {
        why = std::strerror(errno);
      }
      if (rc == 0) return true;
      ::close(fd_);
      fd_ = -1;
      if (interrupted_) break;
    }
    *error = why;
    return false;
  }

  bool send_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (!wait_for(POLLOUT, 30'000)) return false;
      } else {
        error_ = std::string("cannot send the request: ") + std::strerror(errno);
        return false;
      }
    }
    return true;
  }

  // Reads more bytes into buf_; false at the end of the stream (eof_) or on an error.
  bool fill() {
    if (eof_) return false;
    char tmp[64 * 1024];
    for (;;) {
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n > 0) {
        buf_.append(tmp, static_cast<size_t>(n));
        return true;
      }
      if (n == 0) {
        eof_ = true;
        return false;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        if (!wait_for(POLLIN, 0)) return false;
        continue;
      }
      error_ = std::strerror(errno);
      return false;
    }
  }

  static bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    return true;
  }

  // The status line and the header fields.
  bool read_head(int* status, std::string* error) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (buf_.size() > 64 * 1024) {
        *error = "the answer's header is larger than 64 KiB: is this mqbase's HTTP port?";
        return false;
      }
      if (!fill()) {
        if (error_.empty())
          *error = buf_.empty() ? "the connection closed without an answer: is this mqbase's HTTP port?"
                                : "the connection closed in the middle of the answer's header";
        return false;
      }
    }
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    if (!head.starts_with("HTTP/1.") || head.size() < 12) {
      *error = "not an HTTP answer: is this mqbase's HTTP port?";
      return false;
    }
    *status = std::atoi(head.c_str() + 9);
    if (*status < 100) {
      *error = "not an HTTP answer: is this mqbase's HTTP port?";
      return false;
    }
    size_t at = head.find("\r\n");
    while (at != std::string::npos) {
      size_t next = head.find("\r\n", at + 2);
      std::string_view line = std::string_view(head).substr(at + 2, next == std::string::npos ? std::string::npos
                                                                                               : next - at - 2);
      at = next;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view name = line.substr(0, colon);
      std::string value = trim(line.substr(colon + 1));
      if (iequals(name, "Transfer-Encoding")) {
        chunked_ = value.find("chunked") != std::string::npos;
      } else if (iequals(name, "Content-Length")) {
        length_ = std::strtoull(value.c_str(), nullptr, 10);
      }
    }
    return true;
  }

  // A body of Content-Length bytes, or up to the close.
  bool read_plain(const std::function<void(std::string_view)>& deliver) {
    uint64_t got = 0;
    for (;;) {
      if (length_) {
        size_t take = static_cast<size_t>(std::min<uint64_t>(*length_ - got, buf_.size()));
        deliver(std::string_view(buf_).substr(0, take));
        got += take;
        buf_.clear();
        if (got == *length_) return true;
      } else {
        deliver(buf_);
        buf_.clear();
      }
      if (!fill()) return !length_ && eof_;
    }
  }

  // Transfer-Encoding: chunked. Each chunk's bytes go on as they arrive, before the chunk is
  // whole; true once the last chunk (size 0) and the trailer are read.
  bool read_chunked(const std::function<void(std::string_view)>& deliver) {
    for (;;) {
      size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos) {
        if (buf_.size() > 4096) {
          error_ = "a malformed chunk in the answer";
          return false;
        }
        if (!fill()) return false;
      }
      char* end = nullptr;
      uint64_t size = std::strtoull(buf_.c_str(), &end, 16);
      if (end == buf_.c_str()) {
        error_ = "a malformed chunk in the answer";
        return false;
      }
      buf_.erase(0, eol + 2);
      if (size == 0) {
        // The trailer: header fields until an empty line.
        for (;;) {
          while ((eol = buf_.find("\r\n")) == std::string::npos)
            if (!fill()) return false;
          bool empty = eol == 0;
          buf_.erase(0, eol + 2);
          if (empty) return true;
        }
      }
      while (size > 0) {
        if (buf_.empty() && !fill()) return false;
        size_t take = static_cast<size_t>(std::min<uint64_t>(size, buf_.size()));
        deliver(std::string_view(buf_).substr(0, take));
        buf_.erase(0, take);
        size -= take;
      }
      while (buf_.size() < 2)
        if (!fill()) return false;
      buf_.erase(0, 2);  // the chunk's CRLF
    }
  }

  int fd_ = -1;
  std::string buf_;
  std::string error_;
  bool eof_ = false, chunked_ = false, interrupted_ = false;
  std::optional<uint64_t> length_;
};

// ---- JSON, the little the shell reads ----------------------------------------------------

// Decodes the JSON string starting at s[at] (the opening quote). False when it is not one.
bool json_string_at(std::string_view s, size_t at, std::string* out) {
  if (at >= s.size() || s[at] != '"') return false;
  auto hex4 = [&](size_t i, uint32_t* v) {
    if (i + 4 > s.size()) return false;
    *v = 0;
    for (size_t k = i; k < i + 4; ++k) {
      char c = s[k];
      *v <<= 4;
      if (c >= '0' && c <= '9') *v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') *v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') *v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
  };
  auto utf8 = [&](uint32_t cp) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xc0 | cp >> 6);
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xe0 | cp >> 12);
      *out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      *out += static_cast<char>(0xf0 | cp >> 18);
      *out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
      *out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  };
  for (size_t i = at + 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') return true;
    if (c != '\\') {
      *out += c;
      continue;
    }
    if (++i >= s.size()) return false;
    switch (s[i]) {
      case 'n': *out += '\n'; break;
      case 't': *out += '\t'; break;
      case 'r': *out += '\r'; break;
      case 'b': *out += '\b'; break;
      case 'f': *out += '\f'; break;
      case 'u': {
        uint32_t cp;
        if (!hex4(i + 1, &cp)) return false;
        i += 4;
        uint32_t low;
        if (cp >= 0xd800 && cp < 0xdc00 && i + 2 < s.size() && s[i + 1] == '\\' && s[i + 2] == 'u' &&
            hex4(i + 3, &low) && low >= 0xdc00 && low < 0xe000) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          i += 6;
        }
        utf8(cp);
        break;
      }
      default: *out += s[i]; break;  // \" \\ \/
    }
  }
  return false;
}

// The "reason" of an error answer: `{"success":false,"reason":"...",...}`, or for csv and box
// `ERROR:  <reason>` on a line (docs/http.md#query).
std::optional<std::string> reason_of(std::string_view body) {
  if (body.starts_with("ERROR:")) return trim(body.substr(6, body.find('\n') - 6));
  static constexpr std::string_view kKey = "\"reason\":";
  size_t at = body.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  at += kKey.size();
  while (at < body.size() && body[at] == ' ') ++at;
  std::string reason;
  if (!json_string_at(body, at, &reason)) return std::nullopt;
  return reason;
}

// ---- Statements --------------------------------------------------------------------------

// PostgreSQL's lexical states that hide a ';' (and a '\' command), as psql's lexer tracks them.
class SqlScanner {
 public:
  enum class State { normal, single_quote, escape_quote, double_quote, dollar_quote, line_comment, block_comment };

  State state() const { return state_; }
  int paren_depth() const { return parens_; }

  // Advances over text[i] (and what belongs with it) and returns the next index. *ends is set
  // when text[i] is a ';' that ends a statement.
  size_t step(std::string_view text, size_t i, bool* ends) {
    *ends = false;
    char c = text[i];
    auto at = [&](size_t k) { return k < text.size() ? text[k] : '\0'; };
    switch (state_) {
      case State::normal:
        if (c == '\'') {
          char before = i > 0 ? text[i - 1] : ' ';
          char before2 = i > 1 ? text[i - 2] : ' ';
          state_ = (before == 'E' || before == 'e') && !ident_char(before2) ? State::escape_quote : State::single_quote;
        } else if (c == '"') {
          state_ = State::double_quote;
        } else if (c == '-' && at(i + 1) == '-') {
          state_ = State::line_comment;
          return i + 2;
        } else if (c == '/' && at(i + 1) == '*') {
          state_ = State::block_comment;
          comment_depth_ = 1;
          return i + 2;
        } else if (c == '$' && (i == 0 || !ident_char(text[i - 1]))) {
          size_t k = i + 1;
          if (k < text.size() && !(text[k] >= '0' && text[k] <= '9')) {
            while (k < text.size() && ident_char(text[k]) && text[k] != '$') ++k;
            if (k < text.size() && text[k] == '$') {
              tag_ = std::string(text.substr(i, k - i + 1));
              state_ = State::dollar_quote;
              return k + 1;
            }
          }
        } else if (c == '(') {
          ++parens_;
        } else if (c == ')') {
          if (parens_ > 0) --parens_;
        } else if (c == ';' && parens_ == 0) {
          *ends = true;
        }
        return i + 1;
      case State::single_quote:
        if (c == '\'') {
          if (at(i + 1) == '\'') return i + 2;
          state_ = State::normal;
        }
        return i + 1;
      case State::escape_quote:
        if (c == '\\') return std::min(i + 2, text.size());
        if (c == '\'') {
          if (at(i + 1) == '\'') return i + 2;
          state_ = State::normal;
        }
        return i + 1;
      case State::double_quote:
        if (c == '"') {
          if (at(i + 1) == '"') return i + 2;
          state_ = State::normal;
        }
        return i + 1;
      case State::dollar_quote:
        if (c == '$' && text.substr(i, tag_.size()) == tag_) {
          state_ = State::normal;
          return i + tag_.size();
        }
        return i + 1;
      case State::line_comment:
        if (c == '\n') state_ = State::normal;
        return i + 1;
      case State::block_comment:
        if (c == '/' && at(i + 1) == '*') {
          ++comment_depth_;
          return i + 2;
        }
        if (c == '*' && at(i + 1) == '/') {
          if (--comment_depth_ == 0) state_ = State::normal;
          return i + 2;
        }
        return i + 1;
    }
    return i + 1;
  }

  void reset() { *this = SqlScanner(); }

 private:
  static bool ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
           static_cast<unsigned char>(c) >= 0x80;
  }

  State state_ = State::normal;
  int parens_ = 0;
  int comment_depth_ = 0;
  std::string tag_;
};

// The input so far, split into statements as their ';' arrives.
class SqlBuffer {
 public:
  struct Statement {
    std::string sql;  // from its first character that is not a blank or a comment, to the ';'
    int line = 1;     // the input line it starts on
  };

  // Appends input (whole lines, each with its '\n').
  void append(std::string_view text) { text_ += text; }

  // The next complete statement, if a ';' ended one; empty statements (";;", a lone comment)
  // are skipped.
  std::optional<Statement> take() {
    while (scanned_ < text_.size()) {
      bool ends = false;
      size_t at = scanned_;
      bool was_normal = scanner_.state() == SqlScanner::State::normal;
      scanned_ = std::min(scanner_.step(text_, at, &ends), text_.size());
      if (ends) {
        std::optional<Statement> st;
        if (start_) st = statement(at);
        consume(scanned_);
        if (st) return st;
        continue;
      }
      if (!start_ && was_normal && !is_blank(text_[at]) && !in_comment()) start_ = at;
    }
    return std::nullopt;
  }

  // What is left at the end of the input, when it holds more than blanks and comments.
  std::optional<Statement> rest() {
    take();
    if (!start_) return std::nullopt;
    Statement st = statement(text_.size());
    clear();
    return st;
  }

  // Nothing but blanks and comments since the last statement (the first prompt, not "...>").
  bool empty() const { return !start_ && scanner_.state() == SqlScanner::State::normal; }
  // Not inside a quote or a comment: a line starting with '\' is a command.
  bool at_normal() const { return scanner_.state() == SqlScanner::State::normal; }
  void clear() { consume(text_.size()); }
  // The input line the next text starts on.
  int line() const { return base_line_ + newlines(text_.size()); }

 private:
  static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }
  bool in_comment() const {
    return scanner_.state() == SqlScanner::State::line_comment || scanner_.state() == SqlScanner::State::block_comment;
  }
  int newlines(size_t upto) const {
    return static_cast<int>(std::count(text_.begin(), text_.begin() + static_cast<std::ptrdiff_t>(upto), '\n'));
  }
  Statement statement(size_t end) const {
    return {trim(std::string_view(text_).substr(*start_, end - *start_)), base_line_ + newlines(*start_)};
  }
  void consume(size_t upto) {
    base_line_ += newlines(upto);
    text_.erase(0, upto);
    scanned_ = 0;
    start_.reset();
    scanner_.reset();
  }

  std::string text_;     // from the end of the last statement taken
  size_t scanned_ = 0;   // text_ before it is scanned
  SqlScanner scanner_;   // the state at scanned_
  std::optional<size_t> start_;  // the statement's first character, once seen
  int base_line_ = 1;    // the input line of text_[0]
};

// A statement on one line, for the history: a line break becomes a space where that does not
// change the statement (not in a quote, not ending a -- comment).
std::string one_line(std::string_view sql) {
  std::string out;
  SqlScanner scanner;
  for (size_t i = 0; i < sql.size();) {
    bool ends;
    bool in_normal = scanner.state() == SqlScanner::State::normal;
    size_t next = std::min(scanner.step(sql, i, &ends), sql.size());
    if (sql[i] == '\n' && in_normal) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out.append(sql.substr(i, next - i));
    }
    i = next;
  }
  return trim(out);
}

// ---- The shell ---------------------------------------------------------------------------

struct SqlFlags {
  std::string url = "http://127.0.0.1:8080";
  std::vector<std::string> execute;
  std::string format = "box";
  std::string tz;
  std::string timeformat;
};

enum class Mode { interactive, command, script };

class Shell {
 public:
  Shell(const SqlFlags& flags, ServerUrl url, Mode mode) : flags_(flags), url_(std::move(url)), mode_(mode) {}

  enum class Result { ok, error, unreachable, quit };

  // Runs one statement and prints its answer on stdout, an error on stderr.
  Result run(const SqlBuffer::Statement& st) {
    std::string form = "q=";
    form_encode(st.sql, form);
    form += "&format=";
    form_encode(flags_.format, form);
    std::string timeformat = flags_.timeformat;
    // Box is for people: times as text (psql's way, 2023-11-14 22:13:20.5+00) unless asked
    // otherwise; the other formats keep the API's default (ns), which programs read.
    if (timeformat.empty() && flags_.format == "box") timeformat = "2006-01-02 15:04:05.999999999-07";
    if (!timeformat.empty()) {
      form += "&timeformat=";
      form_encode(timeformat, form);
    }
    if (!flags_.tz.empty()) {
      form += "&tz=";
      form_encode(flags_.tz, form);
    }
    const auto began = std::chrono::steady_clock::now();
    std::string error_body, tail;
    bool printed = false;
    char last = '\n';
    auto on_body = [&](int status, std::string_view bytes) {
      if (status != 200) {
        if (error_body.size() < (1u << 20)) error_body.append(bytes);
        return;
      }
      std::fwrite(bytes.data(), 1, bytes.size(), stdout);
      std::fflush(stdout);
      printed = true;
      last = bytes.back();
      tail.append(bytes);
      if (tail.size() > 128 * 1024) tail.erase(0, tail.size() - 64 * 1024);
    };
    HttpConnection http;
    HttpOutcome o = http.exchange(url_, "POST", url_.prefix + "/db/query", "application/x-www-form-urlencoded",
                                  form, on_body);
    if (printed && last != '\n') std::fputc('\n', stdout);
    std::fflush(stdout);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
    Result result = Result::ok;
    switch (o.kind) {
      case HttpOutcome::Kind::unreachable:
        std::fprintf(stderr, "%scannot reach the server at %s: %s\n", mode_ == Mode::interactive ? "" : "mqbase sql: ",
                     url_.text.c_str(), o.error.c_str());
        if (mode_ != Mode::interactive)
          std::fprintf(stderr, "mqbase sql: is `mqbase serve` running, with its HTTP API on %s ([http] listen)? "
                               "--url says where to look\n", url_.host_header.c_str());
        return Result::unreachable;
      case HttpOutcome::Kind::interrupted:
        std::fprintf(stderr, "cancelled\n");
        return Result::error;
      case HttpOutcome::Kind::cut_short:
        if (o.status == 200) {
          // The server ends a stream early when its query fails after the first rows and the
          // format cannot carry the error (csv); a reset or a crash looks the same from here.
          std::fprintf(stderr, "%sERROR:  the answer was cut short (%s): the query failed after its first rows "
                               "were sent, or the server went away; %s cannot carry the reason, json and "
                               "ndjson can\n",
                       prefix(st).c_str(), o.error.c_str(), flags_.format.c_str());
        } else {
          std::fprintf(stderr, "%sERROR:  HTTP %d, and then %s\n", prefix(st).c_str(), o.status, o.error.c_str());
        }
        result = Result::error;
        break;
      case HttpOutcome::Kind::answered:
        if (o.status != 200) {
          std::string reason;
          if (auto r = reason_of(error_body)) {
            reason = *r;
          } else {
            reason = "HTTP " + std::to_string(o.status) + ": " + trim(error_body.substr(0, 300));
          }
          print_error(st, reason);
          result = Result::error;
        } else if (auto reason = error_in_stream(tail)) {
          print_error(st, *reason);
          result = Result::error;
        }
        break;
    }
    if (timing_) std::printf("Time: %.3f ms\n", ms);
    if (mode_ == Mode::interactive && printed) std::printf("\n");
    std::fflush(stdout);
    return result;
  }

  // A backslash command (the line starts with '\'). `buffer` is the statement being typed.
  Result meta(std::string_view line, SqlBuffer& buffer) {
    std::string text = trim(line);
    std::string word = text.substr(0, text.find_first_of(" \t"));
    std::string arg = trim(std::string_view(text).substr(word.size()));
    if (!arg.empty() && arg.back() == ';') arg = trim(arg.substr(0, arg.size() - 1));
    if (word == "\\q") return Result::quit;
    if (word == "\\?" || word == "\\h" || word == "\\help") {
      help();
      return Result::ok;
    }
    if (word == "\\timing") {
      if (arg == "on") timing_ = true;
      else if (arg == "off") timing_ = false;
      else if (arg.empty()) timing_ = !timing_;
      else {
        std::fprintf(stderr, "\\timing takes on or off, not '%s'\n", arg.c_str());
        return Result::error;
      }
      std::printf("Timing is %s.\n", timing_ ? "on" : "off");
      return Result::ok;
    }
    if (word == "\\r") {
      buffer.clear();
      std::printf("Query buffer reset (cleared).\n");
      return Result::ok;
    }
    if (word == "\\d") {
      SqlBuffer::Statement st{arg.empty() ? "SHOW TABLES" : "DESCRIBE " + arg, buffer.line()};
      return run(st);
    }
    std::fprintf(stderr, "invalid command %s; try \\? for help\n", word.c_str());
    return Result::error;
  }

  void help() const {
    std::printf(
        "Statements end with ';' and may span lines. Results come from %s in --format %s.\n"
        "  \\q, quit, exit, Ctrl-D  leave\n"
        "  \\?                      this help\n"
        "  \\timing [on|off]        show how long each statement took\n"
        "  \\d [TABLE]              SHOW TABLES, or DESCRIBE TABLE\n"
        "  \\r                      forget the statement being typed\n"
        "  Ctrl-C                  cancel the running statement, or the line being typed\n"
        "SQL: docs/sql.md (SELECT, SHOW TABLES, DESCRIBE t, CREATE TABLE, INSERT, EXPLAIN, ...).\n",
        url_.text.c_str(), flags_.format.c_str());
  }

  // GET /health: whether the server answers (for the interactive banner).
  bool reachable(std::string* error) {
    HttpConnection http;
    HttpOutcome o = http.exchange(url_, "GET", url_.prefix + "/health", "", "", [](int, std::string_view) {});
    if (o.kind == HttpOutcome::Kind::answered && o.status == 200) return true;
    *error = o.kind == HttpOutcome::Kind::answered ? "HTTP " + std::to_string(o.status) + " on /health" : o.error;
    return false;
  }

  const ServerUrl& url() const { return url_; }

 private:
  // Where a message comes from: nothing when typed or with -e, psql's "<stdin>:LINE: " for a
  // script.
  std::string prefix(const SqlBuffer::Statement& st) const {
    if (mode_ != Mode::script) return "";
    return "mqbase sql: <stdin>:" + std::to_string(st.line) + ": ";
  }

  // ERROR:  <reason>, and when it names a character of the statement, psql's LINE n: with a
  // caret under it.
  void print_error(const SqlBuffer::Statement& st, const std::string& reason) const {
    std::fprintf(stderr, "%sERROR:  %s\n", prefix(st).c_str(), reason.c_str());
    static constexpr std::string_view kAt = " at character ";
    size_t at = reason.rfind(kAt);
    if (at == std::string::npos) return;
    std::string digits = reason.substr(at + kAt.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) return;
    long position = std::stol(digits);  // 1-based, in characters
    const std::string& q = st.sql;
    auto starts_char = [&](size_t k) { return (static_cast<unsigned char>(q[k]) & 0xc0) != 0x80; };
    size_t byte = q.size();  // past the end: "at end of input"
    for (size_t k = 0, chars = 0; k < q.size(); ++k) {
      if (starts_char(k) && ++chars == static_cast<size_t>(position)) {
        byte = k;
        break;
      }
    }
    size_t line_start = byte == 0 ? std::string::npos : q.rfind('\n', byte - 1);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    size_t line_end = q.find('\n', line_start);
    std::string line = q.substr(line_start, line_end == std::string::npos ? std::string::npos : line_end - line_start);
    int line_no = 1 + static_cast<int>(std::count(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(line_start), '\n'));
    std::string lead = "LINE " + std::to_string(line_no) + ": ";
    std::string pad(lead.size(), ' ');
    for (size_t k = line_start; k < byte; ++k)
      if (starts_char(k)) pad += q[k] == '\t' ? '\t' : ' ';
    std::fprintf(stderr, "%s%s\n%s^\n", lead.c_str(), line.c_str(), pad.c_str());
  }

  // An error the server put at the end of a streamed answer (json, ndjson), after rows.
  std::optional<std::string> error_in_stream(const std::string& tail) const {
    if (flags_.format == "json") {
      static constexpr std::string_view kEnd = "]},\"success\":false,\"reason\":";
      size_t at = tail.rfind(kEnd);
      if (at == std::string::npos) return std::nullopt;
      std::string reason;
      if (json_string_at(tail, at + kEnd.size(), &reason)) return reason;
    } else if (flags_.format == "ndjson") {
      std::string_view t = tail;
      while (!t.empty() && t.back() == '\n') t.remove_suffix(1);
      size_t nl = t.rfind('\n');
      std::string_view last = nl == std::string_view::npos ? t : t.substr(nl + 1);
      if (last.starts_with("{\"success\":false,\"reason\":") && last.find("\"elapse\":") != std::string_view::npos)
        return reason_of(last);
    }
    return std::nullopt;
  }

  const SqlFlags& flags_;
  ServerUrl url_;
  Mode mode_;
  bool timing_ = false;
};

// ---- The three modes ---------------------------------------------------------------------

std::string history_path() {
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.mqbase_sql_history";
}

// Whether a line, alone, asks to leave: quit, exit (psql's words), with or without ';'.
bool is_quit_word(std::string_view line) {
  std::string t = trim(line);
  if (!t.empty() && t.back() == ';') t = trim(t.substr(0, t.size() - 1));
  return t == "quit" || t == "exit" || t == "\\q";
}

int interactive(Shell& shell) {
  std::setlocale(LC_CTYPE, "");  // libedit edits UTF-8 text as characters
  struct sigaction sa{};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);  // without SA_RESTART: a blocked read returns
  rl_readline_name = "mqbase";
  rl_catch_signals = 0;
  rl_initialize();
  rl_bind_key('\t', rl_insert);  // no file-name completion of SQL
  using_history();
  stifle_history(1000);
  const std::string history = history_path();
  read_history(history.c_str());

  std::printf("mqbase sql %s, server %s. Type \\? for help, \\q to quit.\n", MQBASE_VERSION, shell.url().text.c_str());
  if (std::string why; !shell.reachable(&why))
    std::printf("warning: cannot reach the server at %s (%s); statements will fail until it is up\n",
                shell.url().text.c_str(), why.c_str());

  SqlBuffer buffer;
  std::string entry;  // the lines of the statement being typed, for the history
  auto remember_text = [&](const std::string& text) {
    if (text.empty()) return;
    add_history(text.c_str());
    write_history(history.c_str());
  };
  auto remember = [&] {
    remember_text(one_line(entry));
    entry.clear();
  };
  for (;;) {
    g_interrupted = 0;
    char* raw = readline(buffer.empty() ? "mqbase> " : "...> ");
    if (raw == nullptr) {
      if (g_interrupted) {  // Ctrl-C: the line and the statement being typed are dropped
        std::printf("\n");
        buffer.clear();
        entry.clear();
        continue;
      }
      std::printf("\n");  // Ctrl-D
      break;
    }
    std::string line(raw);
    std::free(raw);
    if (buffer.empty() && is_quit_word(line)) {
      remember_text(trim(line));
      break;
    }
    if (buffer.at_normal() && trim(line).starts_with('\\')) {
      remember_text(trim(line));  // a command is its own history entry, as in psql
      if (shell.meta(line, buffer) == Shell::Result::quit) break;
      continue;
    }
    entry += entry.empty() ? line : "\n" + line;
    buffer.append(line + "\n");
    while (auto st = buffer.take()) {
      g_interrupted = 0;
      shell.run(*st);
    }
    if (buffer.empty()) {
      remember();
      buffer.clear();
    }
  }
  write_history(history.c_str());
  return kExitOk;
}

int to_exit(Shell::Result r) {
  switch (r) {
    case Shell::Result::ok:
    case Shell::Result::quit: return kExitOk;
    case Shell::Result::error: return kExitSqlError;
    case Shell::Result::unreachable: return kExitUnreachable;
  }
  return kExitSqlError;
}

// Runs the statements of `input` as they complete; at `end`, what is left. Stops at the first
// error. `next_line` gives the input line by line (with its '\n'), false at the end.
int run_statements(Shell& shell, const std::function<bool(std::string*)>& next_line) {
  SqlBuffer buffer;
  std::string line;
  while (next_line(&line)) {
    if (buffer.at_normal() && trim(line).starts_with('\\')) {
      Shell::Result r = shell.meta(line, buffer);
      if (r == Shell::Result::quit) return kExitOk;
      if (r != Shell::Result::ok) return to_exit(r);
      buffer.append("\n");  // keeps the line count
      continue;
    }
    buffer.append(line);
    while (auto st = buffer.take()) {
      Shell::Result r = shell.run(*st);
      if (r != Shell::Result::ok) return to_exit(r);
    }
  }
  if (auto st = buffer.rest()) {
    Shell::Result r = shell.run(*st);
    if (r != Shell::Result::ok) return to_exit(r);
  }
  return kExitOk;
}

int sql(const SqlFlags& flags) {
  ServerUrl url;
  std::string error;
  if (!parse_url(flags.url, &url, &error)) {
    std::fprintf(stderr, "mqbase sql: --url %s\n", error.c_str());
    return kExitUnreachable;
  }
  if (!flags.execute.empty()) {
    Shell shell(flags, url, Mode::command);
    std::string all;
    for (const std::string& e : flags.execute) all += e + "\n";
    size_t at = 0;
    return run_statements(shell, [&](std::string* line) {
      if (at >= all.size()) return false;
      size_t nl = all.find('\n', at);
      *line = all.substr(at, nl - at + 1);
      at = nl + 1;
      return true;
    });
  }
  if (::isatty(STDIN_FILENO)) {
    Shell shell(flags, url, Mode::interactive);
    return interactive(shell);
  }
  Shell shell(flags, url, Mode::script);
  return run_statements(shell, [](std::string* line) {
    if (!std::getline(std::cin, *line)) return false;
    *line += '\n';
    return true;
  });
}

}  // namespace

void add_sql_command(CLI::App& app) {
  auto f = std::make_shared<SqlFlags>();
  auto* cmd = app.add_subcommand("sql", "SQL shell over a running server's HTTP API (interactive, -e, or a script on stdin)");
  cmd->add_option("--url", f->url, "The server's HTTP API (default http://127.0.0.1:8080)");
  cmd->add_option("-e,--execute", f->execute, "Run this SQL (one or more statements) and exit; repeatable");
  cmd->add_option("--format", f->format, "box (default), csv, json or ndjson")
      ->check(CLI::IsMember({"box", "csv", "json", "ndjson"}));
  cmd->add_option("--tz", f->tz, "Time zone of times shown and of literals read: UTC (default), Local, +09:00, Asia/Seoul");
  cmd->add_option("--timeformat", f->timeformat,
                  "How times are shown: ns, us, ms, s, rfc3339, default, or a Go layout (box default: "
                  "2006-01-02 15:04:05.999999999-07; others: ns)");
  cmd->callback([f] { set_exit_code(sql(*f)); });
}

}  // namespace mqbase::app
