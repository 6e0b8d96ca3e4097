// The ciphertext blob parsers (hsm/blob.h): ParseBlob must accept exactly what BuildBlob writes,
// and ParseXksEnvelope what BuildXksEnvelope writes (the blob of a key in an external key store),
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
    // The blob of a key in an external key store, the other shape BlobMaterialId reads.
    auto envelope = hsm::ParseXksEnvelope(blob);
    if (envelope.ok()) {
        const Bytes again = hsm::BuildXksEnvelope(*envelope);
        if (again.size() != size || !std::equal(again.begin(), again.end(), data))
            fuzz::Fail("a parsed external key store blob does not serialise back to its bytes");
        if (envelope->metadata.size() > 20 || envelope->tag.size() != 16 ||
            envelope->ciphertext.empty() ||
            (envelope->iv.size() != 12 && envelope->iv.size() != 16))
            fuzz::Fail("an external key store blob out of the specification's sizes was accepted");
    }
    auto material_id = hsm::Hsm::BlobMaterialId(blob);
    if (material_id.ok() != (parts.ok() || envelope.ok()))
        fuzz::Fail("BlobMaterialId and the blob parsers disagree");
    // The corpus blobs use this encryption context (tests/fuzz/make_corpus.cpp).
    const hsm::EncryptionContext ctx = {{"purpose", "fuzz"}};
    auto plain = f.hsm->Decrypt(f.ref, blob, ctx);
    if (plain.ok() && !parts.ok()) fuzz::Fail("Decrypt accepted a blob ParseBlob refuses");
    (void)f.hsm->Decrypt(f.ref, blob, {});
    return 0;
}
