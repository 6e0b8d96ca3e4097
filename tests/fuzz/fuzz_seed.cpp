// The seed YAML loader (ApplySeedText, src/seed.h): the input is a local-kms seed file, applied
// to a real in-memory Catalog and HSM (tests/support/fakes.h). The Catalog is emptied after each
// input, so every input starts from the same state.
#include "fuzz/fuzz_common.h"
#include "src/seed.h"
#include "support/fakes.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace kmsd;
    static bool quiet = (fuzz::Quiet(), true);
    (void)quiet;
    static testing::TestKms kms;
    const std::string text(fuzz::AsText(data, size));
    auto report = ApplySeedText(kms.services, text, "fuzz.yaml", fuzz::kAccount, fuzz::kRegion);
    if (report.ok() && report->keys > 0) {
        // What was seeded must serve: the first key encrypts through the real dispatcher.
        auto keys = kms.Call("ListKeys", "{}");
        if (keys.status != 200) fuzz::Fail("ListKeys after seeding: " + keys.body);
    }
    if (!kms.catalog->Reset({}).ok()) fuzz::Fail("Catalog::Reset failed");
    kms.hsm->EvictAll();
    return 0;
}
