// libFuzzer target for the MQTT codec: frames and decodes arbitrary bytes as both protocol
// versions; whatever decodes must encode to a packet that decodes to the same value, with
// encoded_size and encode_publish_head agreeing. Any disagreement aborts: it is a codec bug.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "mqtt/codec.hpp"

namespace {

using namespace thinggate::mqtt;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "codec_fuzz: %s\n", what);
    std::abort();
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

void check_round_trip(const packet& p, protocol_version v) {
    std::string out;
    encode(p, v, out);
    if (out.size() != encoded_size(p, v)) {
        fail("encoded_size disagrees with encode");
    }
    frame_header h;
    auto st = parse_frame(bytes_of(out), max_remaining_length + 5, h);
    if (!st || *st != frame_status::complete || h.total_size() != out.size()) {
        fail("encode produced a frame parse_frame does not accept");
    }
    auto back = decode(h, bytes_of(out).subspan(h.header_size), v);
    if (!back) {
        std::fprintf(stderr, "re-decode error: %s\n", back.error().message().c_str());
        fail("encode produced a packet decode rejects");
    }
    if (!(*back == p)) {
        fail("decode(encode(p)) != p");
    }
    if (const auto* pub = std::get_if<publish>(&p)) {
        std::string head;
        encode_publish_head(*pub, pub->payload.size(), v, head);
        if (head + pub->payload != out) {
            fail("encode_publish_head + payload != encode");
        }
    }
}

/// The broker's PUBLISH decoder (views, no copies) must accept, reject and read exactly what
/// decode() does.
void check_publish_view(const frame_header& h, std::span<const std::uint8_t> body, protocol_version v,
                        const boost::system::result<packet>& p) {
    if (h.type() != packet_type::publish) {
        return;
    }
    publish_view view;
    const reason_code rc = decode_publish(h, body, v, view);
    if (!p) {
        if (rc != static_cast<reason_code>(p.error().value())) {
            fail("decode_publish(view) and decode disagree on the error");
        }
        return;
    }
    const auto& pub = std::get<publish>(*p);
    if (rc != reason_code::success || view.topic != pub.topic || view.payload != pub.payload ||
        view.qos != pub.qos || view.retain != pub.retain || view.dup != pub.dup ||
        view.packet_id != pub.packet_id || !(view.props == pub.props)) {
        fail("decode_publish(view) != decode");
    }
}

void run(const frame_header& h, std::span<const std::uint8_t> body, protocol_version v) {
    auto p = decode(h, body, v);
    check_publish_view(h, body, v, p);
    if (p) {
        check_round_trip(*p, v);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> in(data, size);
    for (auto v : {protocol_version::v311, protocol_version::v5}) {
        // As the transport sees it: a framed packet at the start of the buffer.
        frame_header h;
        auto st = parse_frame(in, max_remaining_length + 5, h);
        if (st && *st == frame_status::complete) {
            run(h, in.subspan(h.header_size, h.remaining_length), v);
        }
        // Straight into decode: first byte is the fixed header, the rest is the body. This reaches
        // the body parsers without the fuzzer having to get the length right.
        if (size >= 1 && size - 1 <= max_remaining_length) {
            frame_header direct;
            direct.first_byte = data[0];
            direct.remaining_length = static_cast<std::uint32_t>(size - 1);
            direct.header_size = 1;
            run(direct, in.subspan(1), v);
        }
    }
    return 0;
}
