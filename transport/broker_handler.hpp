#pragma once
// transport/broker_handler: the production connection handler — a broker::client driven by a
// transport connection — and the factory that admits connections against the broker's limit.
// Owns: one broker::client per connection. Must not use: Asio (the connection does the I/O).
// Thread safety: as handler.hpp.

#include <memory>

#include "broker/broker.hpp"
#include "broker/client.hpp"
#include "transport/handler.hpp"

namespace thinggate::transport {

class broker_handler final : public connection_handler {
public:
    broker_handler(
            broker::broker& b,
            broker::shard_id shard,
            broker::connection_io& io,
            broker::connection_info info);
    std::span<std::uint8_t> prepare_input(std::size_t min_size) override;
    void commit_input(std::size_t n) override;
    void release_input() override;
    bool input_paused() const noexcept override;
    bool take_output(std::vector<broker::out_frame>& out) override;
    void output_written(std::size_t n) override;
    std::chrono::milliseconds read_timeout() const noexcept override;
    void on_read_timeout() override;
    void on_connection_lost() override;
    void on_server_shutdown() override;

private:
    broker::client client_;
};

class broker_handler_factory final : public handler_factory {
public:
    explicit broker_handler_factory(broker::broker& b)
        : broker_(b) {}

    bool try_admit() noexcept override;
    void release() noexcept override;
    std::unique_ptr<connection_handler>
    make(broker::connection_io& io, broker::shard_id shard, broker::connection_info info) override;

private:
    broker::broker& broker_;
};

} // namespace thinggate::transport
