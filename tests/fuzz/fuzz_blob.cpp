// The ciphertext blob parser (hsm/blob.h): ParseBlob must accept exactly what BuildBlob writes,
// so a parsed blob serialises back to the same bytes; then the HSM's own door (BlobMaterialId,
// Decrypt under the seeded material, as Decrypt without KeyId does) reads the same input.
#include "fuzz/fuzz_common.h"
#include "hsm/blob.h"
#include "hsm/hsm.h"
#include "support/fakes.h"

namespace {

using namespace kmsd;

constexpr char kKeyArn[] =
    "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555";

struct Fixture {
    testing::FakeKeyStore store;
    std::unique_ptr<hsm::Hsm> hsm = hsm::Hsm::New(testing::MasterKey(7)).value();
    hsm::KeyRef ref;

    Fixture() {
        hsm->set_store(&store);
        auto material = hsm::FromHex(fuzz::kNewMaterial).value();
        auto sealed =
            hsm->ImportKey(kKeyArn, "SYMMETRIC_DEFAULT", ByteView(material.data(), material.size()))
                .value();
        store.blobs[sealed.material_id] = sealed.sealed;
        ref = {kKeyArn, sealed.material_id, "SYMMETRIC_DEFAULT"};
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture f;
    const ByteView blob(data, size);
    auto parts = hsm::ParseBlob(blob);
    if (parts.ok()) {
        const Bytes again = hsm::BuildBlob(*parts);
        if (again.size() != size || !std::equal(again.begin(), again.end(), data))
            fuzz::Fail("a parsed blob does not serialise back to its bytes");
    }
    auto material_id = hsm::Hsm::BlobMaterialId(blob);
    if (material_id.ok() != parts.ok()) fuzz::Fail("BlobMaterialId and ParseBlob disagree");
    // The corpus blobs use this encryption context (tests/fuzz/make_corpus.cpp).
    const hsm::EncryptionContext ctx = {{"purpose", "fuzz"}};
    auto plain = f.hsm->Decrypt(f.ref, blob, ctx);
    if (plain.ok() && !parts.ok()) fuzz::Fail("Decrypt accepted a blob ParseBlob refuses");
    (void)f.hsm->Decrypt(f.ref, blob, {});
    return 0;
}
