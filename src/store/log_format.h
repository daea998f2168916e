// log_format: the constants and encoders of the WAL and checkpoint files (docs/store-format.md
// is the byte-by-byte description): the 32-byte file header, the 17-byte record header, record
// types, and the names of the files in <dir>/wal/. Used by every reader and writer of those
// files; nothing else in the store knows a byte offset.
// Thread-safety: pure functions and constants.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mqbase::store {

using Lsn = uint64_t;

constexpr size_t kFileHeaderSize = 32;
constexpr size_t kRecordHeaderSize = 17;  // crc u32, length u32, type u8, LSN u64
constexpr uint32_t kMaxRecordPayload = 64u << 20;
constexpr uint32_t kFormatVersion = 1;
// A segment written into a recycled file (an older segment renamed, not a new one): the bytes
// after its last record may be the older segment's (docs/store-format.md, Recovery).
constexpr uint32_t kFormatVersionRecycled = 2;
constexpr std::string_view kSegmentMagic = "MQBWAL01";
constexpr std::string_view kCheckpointMagic = "MQBCKP01";

// Record types.
constexpr uint8_t kTypeKvBatch = 1;
constexpr uint8_t kTypeCheckpointEnd = 0x7f;
// Types callers may write with Store::write_record (2..126; 127 is the checkpoint's end record).
constexpr bool is_user_record_type(uint8_t type) { return type >= 2 && type < kTypeCheckpointEnd; }

enum class FileKind : uint8_t { segment, checkpoint };

struct FileHeader {
  FileKind kind = FileKind::segment;
  uint64_t number = 0;
  Lsn first_lsn = 0;
  bool recycled = false;  // segments only: format version 2
};

// The 32 header bytes of `h`, its crc included.
std::string encode_file_header(const FileHeader& h);
// Parses 32 header bytes. Returns nullopt and names the problem in `why` when the magic,
// version or crc is wrong.
std::optional<FileHeader> decode_file_header(std::string_view bytes, std::string* why);

// Appends a record whose crc field is left 0: Store::write() appends under the callers' mutex
// and the writer thread fills the crcs (fill_record_crcs) off it.
void append_record_unsealed(std::string& out, uint8_t type, Lsn lsn, std::string_view payload);
// Computes and stores the crc of every record in `buf` (which holds whole records only).
// Returns the number of records.
size_t fill_record_crcs(std::string& buf);
// The LSN of the record that starts at `rec`.
Lsn record_lsn(const char* rec);
// Appends a complete record (crc included).
void append_record(std::string& out, uint8_t type, Lsn lsn, std::string_view payload);
// The masked crc a record header at `rec` (17 bytes + payload) must carry.
uint32_t record_crc(const char* rec, uint32_t payload_length);

// File names inside <dir>/wal/: "0000000000000001.log", "checkpoint-0000000000000001.ckpt".
std::string segment_file_name(uint64_t number);
std::string checkpoint_file_name(uint64_t number);
// Parses a name made by the functions above; nullopt for anything else.
std::optional<uint64_t> parse_segment_file_name(std::string_view name);
std::optional<uint64_t> parse_checkpoint_file_name(std::string_view name);

}  // namespace mqbase::store
