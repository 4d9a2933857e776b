#pragma once
// The one friend of transport/tls_record outside it (tls_record.hpp: `friend struct
// tls_record_test_access`), shared by tests/unit/transport/tls_record_test.cpp and
// tests/fuzz/tls_record_fuzz.cpp: records no well-behaved peer sends (padding, odd inner types),
// sealed as `r` seals, and our KeyUpdate as seal() writes it when it is due.

#include <cstddef>
#include <cstdint>
#include <span>

#include "transport/tls_record.hpp"

namespace thinggate::transport::detail {

struct tls_record_test_access {
    static std::size_t seal_inner(
            tls_record& r,
            std::uint8_t type,
            std::span<const std::uint8_t> content,
            std::size_t padding,
            std::uint8_t* out) {
        const std::span<const std::uint8_t> piece = content;
        return r.seal_record(type, {&piece, 1}, content.size(), padding, out);
    }

    static std::size_t key_update(tls_record& r, bool requested, std::uint8_t* out) {
        return r.seal_key_update(requested, out);
    }
};

} // namespace thinggate::transport::detail
