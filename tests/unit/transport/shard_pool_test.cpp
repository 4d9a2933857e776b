#include "transport/shard_pool.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using thinggate::transport::shard_pool;

namespace {

/// Counts down from any thread; the test thread waits with a deadline (no sleeps).
class countdown {
public:
    explicit countdown(int n)
        : n_(n) {}

    void hit() {
        std::lock_guard lk(mu_);
        if (--n_ <= 0) {
            cv_.notify_all();
        }
    }

    bool wait(std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lk(mu_);
        return cv_.wait_for(lk, timeout, [this] { return n_ <= 0; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    int n_;
};

} // namespace

TEST_CASE("shard_pool: posts to one shard run in order on that shard's thread") {
    shard_pool pool(2);
    pool.start();
    constexpr int n = 1000;
    std::vector<int> seen; // touched on shard 1 only
    std::atomic<bool> wrong_shard{false};
    countdown done(1);
    for (int i = 0; i < n; ++i) {
        pool.post(1, [&, i] {
            if (pool.current_shard() != 1 || !pool.on_shard_thread()) {
                wrong_shard = true;
            }
            seen.push_back(i);
            if (i == n - 1) {
                done.hit();
            }
        });
    }
    REQUIRE(done.wait());
    CHECK_FALSE(wrong_shard);
    REQUIRE(seen.size() == n);
    for (int i = 0; i < n; ++i) {
        CHECK(seen[i] == i);
    }
    pool.stop();
    pool.join();
}

TEST_CASE("shard_pool: each shard has its own thread and current_shard") {
    shard_pool pool(3);
    CHECK(pool.shard_count() == 3);
    CHECK_FALSE(pool.on_shard_thread());
    pool.start();
    std::mutex mu;
    std::vector<std::pair<unsigned, std::thread::id>> ids;
    countdown done(3);
    for (unsigned s = 0; s < 3; ++s) {
        pool.post(s, [&, s] {
            std::lock_guard lk(mu);
            ids.emplace_back(pool.current_shard(), std::this_thread::get_id());
            CHECK(pool.current_shard() == s);
            done.hit();
        });
    }
    REQUIRE(done.wait());
    REQUIRE(ids.size() == 3);
    CHECK(ids[0].second != ids[1].second);
    CHECK(ids[1].second != ids[2].second);
    CHECK(ids[0].second != ids[2].second);
}

TEST_CASE("shard_pool: cross-shard posts keep FIFO order per pair of shards") {
    shard_pool pool(2);
    pool.start();
    constexpr int n = 500;
    std::vector<int> seen; // on shard 1 only
    countdown done(1);
    pool.post(0, [&] {
        for (int i = 0; i < n; ++i) {
            pool.post(1, [&, i] {
                seen.push_back(i);
                if (i == n - 1) {
                    done.hit();
                }
            });
        }
    });
    REQUIRE(done.wait());
    REQUIRE(seen.size() == n);
    bool ordered = true;
    for (int i = 0; i < n; ++i) {
        ordered = ordered && seen[i] == i;
    }
    CHECK(ordered);
}

TEST_CASE("shard_pool: post_after runs after the delay, in deadline order") {
    shard_pool pool(1);
    pool.start();
    std::vector<int> order; // shard 0 only
    countdown done(3);
    auto t0 = pool.now();
    std::chrono::steady_clock::time_point ran_at{};
    pool.post_after(0, 60ms, [&] {
        order.push_back(3);
        ran_at = pool.now();
        done.hit();
    });
    pool.post_after(0, 30ms, [&] {
        order.push_back(2);
        done.hit();
    });
    pool.post_after(0, 0ms, [&] {
        order.push_back(1);
        done.hit();
    });
    REQUIRE(done.wait());
    CHECK(order == std::vector<int>{1, 2, 3});
    CHECK(ran_at - t0 >= 60ms);
}

TEST_CASE("shard_pool: a throwing task does not take the shard down") {
    shard_pool pool(1);
    pool.start();
    countdown done(1);
    pool.post(0, [] { throw std::runtime_error("boom"); });
    pool.post(0, [&] { done.hit(); });
    CHECK(done.wait());
}

TEST_CASE("shard_pool: stop ends the threads; pending timers are dropped without running") {
    std::atomic<bool> ran{false};
    {
        shard_pool pool(2);
        pool.start();
        countdown armed(1);
        pool.post(1, [&] { armed.hit(); });
        pool.post_after(1, 1h, [&] { ran = true; });
        REQUIRE(armed.wait());
        pool.stop();
        pool.join();
        CHECK_FALSE(pool.running());
        pool.stop(); // idempotent
        pool.join();
    } // destroying the pool destroys the timer's handler
    CHECK_FALSE(ran);
}

TEST_CASE("shard_pool: tasks posted before start run once started") {
    shard_pool pool(1);
    countdown done(1);
    pool.post(0, [&] { done.hit(); });
    pool.start();
    CHECK(done.wait());
}
