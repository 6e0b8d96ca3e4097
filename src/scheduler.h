// Scheduler: a thread that runs `tick` every `period` until stopped, so scheduled key work
// (deletion, rotation) happens in real time within a period of falling due. Moves of the KMS
// clock run due work directly (App::MoveClock), not through this thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace kmsd {

class Scheduler {
public:
    Scheduler(std::function<void()> tick, std::chrono::milliseconds period)
        : tick_(std::move(tick)), period_(period) {}
    ~Scheduler() { Stop(); }

    void Start();
    // Idempotent; returns once the thread has finished its current tick.
    void Stop();

private:
    std::function<void()> tick_;
    std::chrono::milliseconds period_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace kmsd
