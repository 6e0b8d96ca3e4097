#include "src/scheduler.h"

namespace kmsd {

void Scheduler::Start() {
    thread_ = std::thread([this] {
        std::unique_lock lock(mu_);
        while (!cv_.wait_for(lock, period_, [this] { return stopping_; })) {
            lock.unlock();
            tick_();
            lock.lock();
        }
    });
}

void Scheduler::Stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

}  // namespace kmsd
