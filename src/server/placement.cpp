#include "src/server/placement.h"

namespace kmsd {

std::size_t PlaceConnection(int cpu, std::span<const int> worker_cpus, std::span<const int> loads,
                            std::size_t turn) {
    const std::size_t n = loads.size();
    if (n <= 1) return 0;
    std::size_t least = turn % n;
    std::size_t paired = n;  // none
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t w = (turn + i) % n;
        if (loads[w] < loads[least]) least = w;
        if (cpu >= 0 && w < worker_cpus.size() && worker_cpus[w] == cpu &&
            (paired == n || loads[w] < loads[paired]))
            paired = w;
    }
    if (paired != n && loads[paired] <= loads[least] + kPlacementSlack) return paired;
    return least;
}

}  // namespace kmsd
