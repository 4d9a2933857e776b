#include "tools/bench/publish_view.hpp"

namespace thinggate::bench {

std::optional<publish_view> view_publish(
        const mqtt::frame_header& header,
        std::span<const std::uint8_t> body,
        mqtt::protocol_version version) noexcept {
    if (header.type() != mqtt::packet_type::publish || body.size() < 2) {
        return std::nullopt;
    }
    publish_view v;
    const std::uint8_t flags = header.flags();
    const unsigned q = (flags >> 1) & 0x03;
    if (q == 3) {
        return std::nullopt;
    }
    v.qos = static_cast<mqtt::qos>(q);
    v.dup = (flags & 0x08) != 0;
    v.retain = (flags & 0x01) != 0;

    std::size_t pos = 0;
    const std::size_t topic_len = (std::size_t{body[0]} << 8) | body[1];
    pos = 2;
    if (body.size() - pos < topic_len) {
        return std::nullopt;
    }
    v.topic = {reinterpret_cast<const char*>(body.data() + pos), topic_len};
    pos += topic_len;
    if (v.qos != mqtt::qos::at_most_once) {
        if (body.size() - pos < 2) {
            return std::nullopt;
        }
        v.packet_id = static_cast<std::uint16_t>((body[pos] << 8) | body[pos + 1]);
        pos += 2;
        if (v.packet_id == 0) {
            return std::nullopt;
        }
    }
    if (version == mqtt::protocol_version::v5) {
        std::uint32_t props_len = 0;
        unsigned shift = 0;
        for (int i = 0;; ++i) {
            if (i == 4 || pos >= body.size()) {
                return std::nullopt;
            }
            const std::uint8_t b = body[pos++];
            props_len |= std::uint32_t{b & 0x7Fu} << shift;
            shift += 7;
            if ((b & 0x80) == 0) {
                break;
            }
        }
        if (body.size() - pos < props_len) {
            return std::nullopt;
        }
        pos += props_len;
    }
    v.payload = body.subspan(pos);
    return v;
}

} // namespace thinggate::bench
