// `mqbase passwd`: mosquitto_passwd's usage and file format, so that either tool edits the
// other's files (docs/security.md).
//
//   mqbase passwd [-H sha512 | -H sha512-pbkdf2] [-I iterations] [-c | -D] passwordfile username
//   mqbase passwd [-H ...] [-I iterations] [-c] -b passwordfile username password
//   mqbase passwd -U passwordfile
//   mqbase passwd --scram [-I iterations] [-c | -D] [-b] scramfile username [password]
//
// With --scram the file holds SCRAM-SHA-256 secrets (`user:SCRAM-SHA-256$...`, PostgreSQL's
// format, auth.scram_file) instead of mosquitto's hashes; the rest works the same.
// The file is rewritten whole into a temporary file beside it and renamed over it, so a reader
// (the server on SIGHUP) sees the old file or the new one, never half of one. Lines of other
// users, comments and blank lines stay as they were. A new file is made with mode 0600.
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "app/commands.h"
#include "auth/password_file.h"
#include "auth/scram.h"
#include "auth/text_file.h"

namespace mqbase::app {
namespace {

struct PasswdFlags {
  std::string hash = "sha512-pbkdf2";
  uint32_t iterations = 0;  // 0: the hash's default
  bool scram = false;
  bool create = false;
  bool remove = false;
  bool batch = false;
  bool update = false;
  std::vector<std::string> args;
};

int fail(const std::string& message) {
  std::fprintf(stderr, "Error: %s\n", message.c_str());
  return 1;
}

// One line from stdin, without echo when it is a terminal. False at end of input.
bool read_secret(const char* prompt, std::string& out) {
  std::fputs(prompt, stdout);
  std::fflush(stdout);
  termios saved{};
  const bool tty = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved) == 0;
  if (tty) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  const bool got = static_cast<bool>(std::getline(std::cin, out));
  if (tty) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
  std::fputs("\n", stdout);
  if (!out.empty() && out.back() == '\r') out.pop_back();
  return got;
}

// The password twice, as mosquitto_passwd asks it. Returns 0, or the exit code.
int prompt_password(std::string& password) {
  std::string again;
  if (!read_secret("Password: ", password) || password.empty()) return fail("Empty password.");
  if (!read_secret("Reenter password: ", again) || again.empty()) return fail("Empty password.");
  if (password != again) {
    fail("Passwords do not match.");
    return 2;
  }
  return 0;
}

int passwd(PasswdFlags& f) {
  if (f.create + f.remove + f.update > 1) return fail("-c, -D and -U cannot be used together.");
  if (f.remove && f.batch) return fail("-b and -D cannot be used together.");
  if (f.hash != "sha512" && f.hash != "sha512-pbkdf2") return fail("Unknown hash type '" + f.hash + "'");
  const size_t wanted = f.update ? 1 : f.batch ? 3 : 2;
  if (f.args.size() != wanted) {
    std::fprintf(stderr,
                 "Usage: mqbase passwd [-H sha512 | -H sha512-pbkdf2] [-I iterations] [-c | -D] passwordfile username\n"
                 "       mqbase passwd [-H sha512 | -H sha512-pbkdf2] [-I iterations] [-c] -b passwordfile username password\n"
                 "       mqbase passwd -U passwordfile\n"
                 "       mqbase passwd --scram [-I iterations] [-c | -D] [-b] scramfile username [password]\n");
    return 1;
  }
  const std::string& path = f.args[0];
  const std::string user = f.update ? std::string() : f.args[1];
  if (user.find(':') != std::string::npos) return fail("Username must not contain the ':' character.");
  for (unsigned char ch : user)
    if (std::iscntrl(ch)) return fail("Username must not contain control characters.");
  const auto type = f.hash == "sha512" ? auth::PasswordHash::sha512 : auth::PasswordHash::sha512_pbkdf2;
  auto hashed = [&](std::string_view password) {
    if (f.scram) return auth::scram_secret(password, f.iterations ? static_cast<int>(f.iterations) : auth::kDefaultScramIterations);
    return auth::HashedPassword::make(password, type, f.iterations ? f.iterations : auth::kDefaultPbkdf2Iterations)
        .to_string();
  };
  auto is_hash = [&](std::string_view rest) {
    return f.scram ? static_cast<bool>(auth::ScramSecret::parse(rest, nullptr))
                   : static_cast<bool>(auth::HashedPassword::parse(rest, nullptr));
  };
  const char* what = f.scram ? "SCRAM credentials file" : "password file";

  std::string old_text;
  if (!f.create) {
    try {
      old_text = auth::read_text_file(path, what);
    } catch (const auth::AuthFileError& e) {
      return fail(e.what());
    }
  }
  std::string password;
  if (f.batch) {
    password = f.args[2];
  } else if (!f.remove && !f.update) {
    if (int rc = prompt_password(password)) return rc;
  }

  std::string text;
  if (f.update) {
    // Plain passwords hashed in place; a line already hashed stays (mosquitto_passwd would
    // hash the hash); comments and blank lines as they were.
    int error = 0;
    auth::for_each_line(old_text, [&](size_t number, std::string_view line) {
      std::string_view name, rest;
      if (error) return;
      if (line.empty() || line.starts_with('#')) {
        text.append(line).append("\n");
      } else if (!auth::split_password_line(line, name, rest) || name.empty() || rest.empty()) {
        error = fail("Corrupt " + std::string(what) + " at line " + std::to_string(number) + ".");
      } else {
        text.append(name).append(":").append(is_hash(rest) ? std::string(rest) : hashed(rest)).append("\n");
      }
    });
    if (error) return error;
  } else {
    // The user's line replaced (or dropped with -D), everything else as it was.
    const std::string secret = f.remove ? std::string() : hashed(password);
    bool found = false;
    if (std::string why = auth::edit_user_line(old_text, user, f.remove ? nullptr : &secret, &text, &found);
        !why.empty())
      return fail("Corrupt " + std::string(what) + ": " + why + ".");
    if (f.remove && !found) {
      std::fprintf(stderr, "Warning: User %s not found in password file.\n", user.c_str());
      return 1;
    }
  }
  if (std::string why = auth::replace_text_file(path, text); !why.empty()) return fail(why);
  return 0;
}

}  // namespace

void add_passwd_command(CLI::App& app) {
  auto flags = std::make_shared<PasswdFlags>();
  auto* cmd = app.add_subcommand("passwd", "Manage a password file (mosquitto_passwd's usage and format)");
  cmd->add_option("-H", flags->hash, "Hash: sha512-pbkdf2 (default) or sha512 (mosquitto 1.6 and earlier)");
  cmd->add_option("-I", flags->iterations, "PBKDF2 iterations (default 101; with --scram 4096)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("-c", flags->create, "Create a new password file (overwrites an existing one)");
  cmd->add_flag("-D", flags->remove, "Delete the user instead of setting its password");
  cmd->add_flag("-b", flags->batch, "Batch mode: the password is given on the command line");
  cmd->add_flag("-U", flags->update, "Hash the plain passwords of a file of user:password lines, in place");
  cmd->add_flag("--scram", flags->scram, "A SCRAM-SHA-256 credentials file (auth.scram_file) instead of a password file");
  cmd->add_option("args", flags->args, "passwordfile [username [password]]");
  cmd->callback([flags] { set_exit_code(passwd(*flags)); });
}

}  // namespace mqbase::app
