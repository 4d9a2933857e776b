// mqtt::write_plain_publish_head: the head of a PUBLISH without properties written straight into a
// buffer must be byte for byte what encode() writes for that packet, in both versions.

#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "mqtt/codec.hpp"

namespace {

using namespace thinggate::mqtt;

} // namespace

TEST_CASE("plain PUBLISH head: same bytes as encode for every QoS, flag and Remaining Length size "
          "[MQTT-3.3.1-2] [MQTT-1.5.5-1]") {
    // Remaining Length of 1, 2 and 3 bytes (§1.5.5): payloads around 127 and 16 383 bytes.
    const std::vector<std::size_t> payload_sizes{
            0, 1, 64, 120, 121, 122, 127, 128, 300, 16'370, 16'384, 70'000};
    const std::vector<std::string> topics{"t", "fleet/17/telemetry", std::string(200, 'x')};
    for (const auto v : {protocol_version::v311, protocol_version::v5}) {
        for (const auto q : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
            for (const bool retain : {false, true}) {
                for (const bool dup : {false, true}) {
                    for (const auto& topic : topics) {
                        for (const std::size_t size : payload_sizes) {
                            publish p;
                            p.topic = topic;
                            p.payload.assign(size, 'p');
                            p.qos = q;
                            p.retain = retain;
                            p.dup = dup;
                            p.packet_id = q == qos::at_most_once ? 0 : 0xA55A;
                            std::string whole;
                            encode(p, v, whole);
                            const std::size_t n = plain_publish_head_size(topic.size(), q, size, v);
                            REQUIRE(n + size == whole.size());
                            std::string head(n, '\0');
                            write_plain_publish_head(
                                    topic, q, retain, dup, p.packet_id, size, v, head.data());
                            CHECK(head == whole.substr(0, n));
                            std::string via_head_encoder;
                            encode_publish_head(p, size, v, via_head_encoder);
                            CHECK(via_head_encoder == head);
                        }
                    }
                }
            }
        }
    }
}
