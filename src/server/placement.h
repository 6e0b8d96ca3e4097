// Which worker thread serves a connection.
#pragma once

#include <cstddef>
#include <span>

namespace kmsd {

// A connection is best served by a worker running on the CPU its client runs on: each then wakes
// the other on the CPU it is on, instead of waking another CPU (on a VM an interrupt to another
// vCPU, which the host may have to schedule first). With wrk's two threads on our two cores,
// Encrypt went from about 52,000 to 60,000 requests a second and its p99 from 2.6 to 1.0 ms when
// each client thread's connections were on one worker, against connections dealt in turn.
//
// `cpu` is where the client's packets were last processed (SO_INCOMING_CPU: on loopback, where
// the client thread ran; from a NIC, where its receive queue is served), negative if unknown;
// `worker_cpus` where each worker last ran (negative if unknown); `loads` each worker's open
// connections. The answer is a worker on `cpu`, unless it has more than kPlacementSlack
// connections over the least loaded worker: then the least loaded (ties go to `turn` % the
// number of workers and on), so that client threads that all connected from one CPU do not all
// land on one worker (an RSA signature is CPU: one worker would serve half of what two do).
inline constexpr int kPlacementSlack = 4;
std::size_t PlaceConnection(int cpu, std::span<const int> worker_cpus, std::span<const int> loads,
                            std::size_t turn);

}  // namespace kmsd
