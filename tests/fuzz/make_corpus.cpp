// Writes the binary seed inputs of the fuzz corpus: valid ciphertext blobs under the seeded key
// material (tests/fuzz/fuzz_common.h), as raw files for the blob target and as base64 lines on
// stdout for tests/fuzz/make_corpus.py to put into requests. Usage: fuzz_make_corpus DIR
#include <cstdio>
#include <fstream>

#include "common/base64.h"
#include "fuzz/fuzz_common.h"
#include "hsm/hsm.h"
#include "support/fakes.h"

int main(int argc, char** argv) {
    using namespace kmsd;
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const std::string arn =
        std::string("arn:aws:kms:") + fuzz::kRegion + ":" + fuzz::kAccount + ":key/" + fuzz::kKeyId;
    testing::FakeKeyStore store;
    auto hsm = hsm::Hsm::New(testing::MasterKey(7)).value();
    hsm->set_store(&store);
    auto material = hsm::FromHex(fuzz::kNewMaterial).value();
    auto sealed =
        hsm->ImportKey(arn, "SYMMETRIC_DEFAULT", ByteView(material.data(), material.size()))
            .value();
    store.blobs[sealed.material_id] = sealed.sealed;
    const hsm::KeyRef ref{arn, sealed.material_id, "SYMMETRIC_DEFAULT"};
    struct Item {
        const char* name;
        std::string plaintext;
        hsm::EncryptionContext ctx;
        hsm::BlobKind kind;
    };
    const Item items[] = {
        {"valid-empty-context", "hello", {}, hsm::BlobKind::kEncrypt},
        {"valid-context", "fuzz plaintext", {{"purpose", "fuzz"}}, hsm::BlobKind::kEncrypt},
        {"valid-data-key", std::string(32, 'k'), {{"purpose", "fuzz"}}, hsm::BlobKind::kDataKey},
        {"valid-one-byte", "x", {{"purpose", "fuzz"}}, hsm::BlobKind::kEncrypt},
    };
    for (const auto& item : items) {
        Bytes blob = hsm->Encrypt(ref, View(item.plaintext), item.ctx, item.kind).value();
        std::ofstream(dir + "/" + item.name, std::ios::binary)
            .write(reinterpret_cast<const char*>(blob.data()),
                   static_cast<std::streamsize>(blob.size()));
        std::printf("%s %s\n", item.name, Base64Encode(blob).c_str());
    }
    return 0;
}
