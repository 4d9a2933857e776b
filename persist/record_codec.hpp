#pragma once
// persist/record_codec: keys and values of every record kind as bytes (docs/persistence.md).
// Values: a leading record-version byte, then fields in a fixed order; integers little-endian,
// strings and byte strings as u32 length + bytes, optionals as a 0/1 byte + value, lists as u32
// count + elements. Keys: big-endian where they must sort numerically.
// Decoding is strict: a truncated, over-long or out-of-range value gives errc::corrupt, never a
// crash, an assert or an allocation larger than the input.
// Owns: the byte format. Must not use: I/O.
// Thread safety: pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

#include "persist/records.hpp"

namespace thinggate::persist::codec {

/// Version byte written at the start of every value by this build.
inline constexpr std::uint8_t record_version = 1;

// --- keys ---

/// Prefix shared by every key of one client in the client-scoped families (sessions,
/// subscriptions, queued, inflight, qos2_in): u16 big-endian length + client id bytes.
std::string client_prefix(std::string_view client_id);
std::string session_key(std::string_view client_id);
std::string subscription_key(std::string_view client_id, std::string_view filter);
/// client prefix + u64 big-endian seq: iteration order is sequence order.
std::string sequence_key(std::string_view client_id, std::uint64_t seq);
std::string qos2_in_key(std::string_view client_id, std::uint16_t packet_id);
std::string retained_key(std::string_view topic);
/// u8 kind + name.
std::string blob_key(blob_kind kind, std::string_view name);
std::string blob_kind_prefix(blob_kind kind);

/// The smallest key greater than every key starting with `prefix` (for range deletes).
std::string prefix_end(std::string_view prefix);

// --- values ---

std::string encode(const session_record& r);
std::string encode(const subscription_record& r);
std::string encode(const queued_record& r);
std::string encode(const inflight_record& r);
std::string encode(const qos2_in_record& r);
/// Retained message value (the key is retained_key(topic)).
std::string encode(const message_record& r);

// decode_*: key and value as stored -> record; errc::corrupt when either is not well formed.
boost::system::error_code decode(std::string_view key, std::string_view value, session_record& out);
boost::system::error_code
decode(std::string_view key, std::string_view value, subscription_record& out);
boost::system::error_code decode(std::string_view key, std::string_view value, queued_record& out);
boost::system::error_code
decode(std::string_view key, std::string_view value, inflight_record& out);
boost::system::error_code decode(std::string_view key, std::string_view value, qos2_in_record& out);
boost::system::error_code decode(std::string_view key, std::string_view value, message_record& out);
/// Blob: the key gives kind and name; the value is taken as is.
boost::system::error_code decode(std::string_view key, std::string_view value, blob_record& out);

// --- meta ---

inline constexpr std::string_view meta_magic_key = "magic";
inline constexpr std::string_view meta_magic_value = "thinggate";
inline constexpr std::string_view meta_schema_key = "schema_version";
inline constexpr std::string_view meta_created_key = "created_at";
inline constexpr std::string_view meta_heartbeat_key = "heartbeat";

std::string encode_u32(std::uint32_t v);
std::optional<std::uint32_t> decode_u32(std::string_view bytes) noexcept;
std::string encode_time(wall_time t);
std::optional<wall_time> decode_time(std::string_view bytes) noexcept;

} // namespace thinggate::persist::codec
