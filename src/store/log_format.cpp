#include "store/log_format.h"

#include <cstdio>

#include "store/coding.h"
#include "store/crc32c.h"

namespace mqbase::store {
namespace {

// The header crc covers bytes 0..11 and 16..31: everything but itself.
uint32_t header_crc(const char* h) {
  uint32_t c = crc32c(h, 12);
  return crc32c_mask(crc32c(h + 16, 16, c));
}

std::optional<uint64_t> parse_hex16(std::string_view s) {
  if (s.size() != 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v |= static_cast<uint64_t>(c - 'a' + 10);
    else return std::nullopt;
  }
  return v;
}

std::string hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string encode_file_header(const FileHeader& h) {
  std::string out(kFileHeaderSize, '\0');
  std::string_view magic = h.kind == FileKind::segment ? kSegmentMagic : kCheckpointMagic;
  out.replace(0, 8, magic);
  encode_u32(out.data() + 8, h.recycled ? kFormatVersionRecycled : kFormatVersion);
  encode_u64(out.data() + 16, h.number);
  encode_u64(out.data() + 24, h.first_lsn);
  encode_u32(out.data() + 12, header_crc(out.data()));
  return out;
}

std::optional<FileHeader> decode_file_header(std::string_view bytes, std::string* why) {
  auto fail = [&](const char* what) -> std::optional<FileHeader> {
    if (why) *why = what;
    return std::nullopt;
  };
  if (bytes.size() < kFileHeaderSize) return fail("short file header");
  FileHeader h;
  std::string_view magic = bytes.substr(0, 8);
  if (magic == kSegmentMagic) h.kind = FileKind::segment;
  else if (magic == kCheckpointMagic) h.kind = FileKind::checkpoint;
  else return fail("bad magic in file header");
  if (decode_u32(bytes.data() + 12) != header_crc(bytes.data())) return fail("file header checksum mismatch");
  const uint32_t version = decode_u32(bytes.data() + 8);
  if (version == kFormatVersionRecycled && h.kind == FileKind::segment) h.recycled = true;
  else if (version != kFormatVersion) return fail("unknown format version");
  h.number = decode_u64(bytes.data() + 16);
  h.first_lsn = decode_u64(bytes.data() + 24);
  return h;
}

void append_record_unsealed(std::string& out, uint8_t type, Lsn lsn, std::string_view payload) {
  char h[kRecordHeaderSize];
  encode_u32(h, 0);
  encode_u32(h + 4, static_cast<uint32_t>(payload.size()));
  h[8] = static_cast<char>(type);
  encode_u64(h + 9, lsn);
  out.append(h, kRecordHeaderSize);
  out.append(payload);
}

uint32_t record_crc(const char* rec, uint32_t payload_length) {
  return crc32c_mask(crc32c(rec + 4, kRecordHeaderSize - 4 + payload_length));
}

size_t fill_record_crcs(std::string& buf) {
  size_t pos = 0, n = 0;
  while (pos + kRecordHeaderSize <= buf.size()) {
    uint32_t len = decode_u32(buf.data() + pos + 4);
    encode_u32(buf.data() + pos, record_crc(buf.data() + pos, len));
    pos += kRecordHeaderSize + len;
    ++n;
  }
  return n;
}

Lsn record_lsn(const char* rec) { return decode_u64(rec + 9); }

void append_record(std::string& out, uint8_t type, Lsn lsn, std::string_view payload) {
  size_t start = out.size();
  append_record_unsealed(out, type, lsn, payload);
  encode_u32(out.data() + start, record_crc(out.data() + start, static_cast<uint32_t>(payload.size())));
}

std::string segment_file_name(uint64_t number) { return hex16(number) + ".log"; }

std::string checkpoint_file_name(uint64_t number) { return "checkpoint-" + hex16(number) + ".ckpt"; }

std::optional<uint64_t> parse_segment_file_name(std::string_view name) {
  if (name.size() != 20 || name.substr(16) != ".log") return std::nullopt;
  return parse_hex16(name.substr(0, 16));
}

std::optional<uint64_t> parse_checkpoint_file_name(std::string_view name) {
  constexpr std::string_view prefix = "checkpoint-", suffix = ".ckpt";
  if (name.size() != prefix.size() + 16 + suffix.size() || name.substr(0, prefix.size()) != prefix ||
      name.substr(prefix.size() + 16) != suffix)
    return std::nullopt;
  return parse_hex16(name.substr(prefix.size(), 16));
}

}  // namespace mqbase::store
