/*
 * A media server in miniature, in C: compiled against the generated header
 * and linked to libstspiVastDataMT.so by the test suite.
 * Usage: smoke <config.toml> <lsu>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stspi_vastdata.h"

#define CHECK(call)                                                             \
    do {                                                                        \
        int st_ = (call);                                                       \
        if (st_ != STS_EOK) {                                                   \
            char msg_[512];                                                     \
            vastost_last_error(msg_, sizeof msg_);                              \
            fprintf(stderr, "%s:%d: %s -> %d (%s): %s\n", __FILE__, __LINE__,   \
                    #call, st_, vastost_strerror(st_), msg_);                   \
            return 1;                                                           \
        }                                                                       \
    } while (0)

#define EXPECT(call, want)                                                      \
    do {                                                                        \
        int st_ = (call);                                                       \
        if (st_ != (want)) {                                                    \
            fprintf(stderr, "%s:%d: %s -> %d, expected %d\n", __FILE__,         \
                    __LINE__, #call, st_, (int)(want));                         \
            return 1;                                                           \
        }                                                                       \
    } while (0)

enum { LEN = 3 * 65536 + 1024 };

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <config> <lsu>\n", argv[0]);
        return 2;
    }
    static unsigned char data[LEN], back[LEN];
    for (size_t i = 0; i < LEN; i++) data[i] = (unsigned char)(i * 31 + 7);

    EXPECT(stspi_open_server("VastData:small", NULL, NULL), STS_ENOTINIT);
    sts_plugin_info_t pi;
    CHECK(stspi_init(STS_API_VERSION, argv[1], &pi));
    if (strcmp(pi.pi_stype, "VastData") != 0 || !(pi.pi_flags & STS_PI_MT)) return 1;
    CHECK(stspi_claim("VastData:small"));
    EXPECT(stspi_claim("DataDomain:dd"), STS_ECLAIM);

    sts_server_handle_t server = NULL;
    CHECK(stspi_open_server("VastData:small", NULL, &server));
    sts_server_info_t si;
    CHECK(stspi_get_server_prop(server, &si));
    if (!STS_SRV_CAP_TEST(si.srv_cap, STS_SRVC_CREATE_IMAGE)) return 1;
    if (!STS_SRV_CAP_TEST(si.srv_cap, STS_SRVC_COPY_IMAGE)) return 1;

    sts_lsu_list_handle_t list = NULL;
    sts_lsu_name_t name;
    int found = 0;
    CHECK(stspi_open_lsu_list(server, &list));
    int st;
    while ((st = stspi_list_lsu(list, &name)) == STS_EOK) found |= strcmp(name.sln_name, argv[2]) == 0;
    EXPECT(st, STS_ENOMORE);
    CHECK(stspi_close_lsu_list(list));
    if (!found) return 1;

    sts_lsu_t lsu;
    memset(&lsu, 0, sizeof lsu);
    lsu.sl_server_handle = server;
    snprintf(lsu.sl_lsu_name, sizeof lsu.sl_lsu_name, "%s", argv[2]);
    sts_lsu_info_t li;
    CHECK(stspi_get_lsu_prop_byname(&lsu, &li));
    CHECK(stspi_label_lsu(&lsu, "from C"));

    sts_image_def_t def;
    memset(&def, 0, sizeof def);
    snprintf(def.img_basename, sizeof def.img_basename, "cclient_1_C1_F1");
    snprintf(def.img_date, sizeof def.img_date, "1700000000");
    stsp_image_handle_t img = NULL;
    CHECK(stspi_create_image(&lsu, &def, 0, &img));
    uint64_t n = 0;
    for (uint64_t off = 0; off < LEN; off += 4096) {
        uint64_t len = LEN - off < 4096 ? LEN - off : 4096;
        CHECK(stspi_write_image(img, NULL, data + off, len, off, &n));
        if (n != len) return 1;
    }
    CHECK(stspi_write_image_meta(img, "meta", 4, 0, &n));
    sts_image_info_t ii;
    CHECK(stspi_get_image_prop(img, &ii));
    if (ii.imo_size != LEN || ii.imo_flags != (STS_II_IMAGE_PENDING | STS_II_BUSY_WRITE)) return 1;
    CHECK(stspi_close_image(img, STS_CLOSEF_IH_COMPLETE));
    EXPECT(stspi_close_image(img, STS_CLOSEF_IH_COMPLETE), STS_EBADHANDLE);

    CHECK(stspi_open_image(&lsu, &def, STS_O_READ, &img));
    CHECK(stspi_read_image(img, back, LEN, 0, &n));
    if (n != LEN || memcmp(data, back, LEN) != 0) return 1;
    char meta[8] = {0};
    CHECK(stspi_read_image_meta(img, meta, sizeof meta, 0, &n));
    if (n != 4 || memcmp(meta, "meta", 4) != 0) return 1;
    CHECK(stspi_close_image(img, STS_CLOSEF_IH_INCOMPLETE));

    /* A copy within the server, announced by events. */
    sts_image_def_t copy = def;
    strcpy(copy.img_basename, "smoke_copy");
    CHECK(stspi_copy_image(&lsu, &def, &lsu, &copy, 0));
    CHECK(stspi_open_image(&lsu, &copy, STS_O_READ, &img));
    memset(back, 0, LEN);
    CHECK(stspi_read_image(img, back, LEN, 0, &n));
    if (n != LEN || memcmp(data, back, LEN) != 0) return 1;
    CHECK(stspi_close_image(img, STS_CLOSEF_IH_INCOMPLETE));
    sts_evc_handle_t evc = NULL;
    sts_event_t ev;
    int copies = 0;
    CHECK(stspi_open_evchannel(server, 0, &evc));
    while ((st = stspi_get_event(evc, &ev)) == STS_EOK) {
        if (ev.ev_type == STS_EVT_COPY_DONE) copies++;
        CHECK(stspi_delete_event(evc, &ev));
    }
    EXPECT(st, STS_ENOMORE);
    CHECK(stspi_close_evchannel(evc));
    if (copies != 1) return 1;
    CHECK(stspi_delete_image(&lsu, &copy, 0));

    sts_image_list_handle_t il = NULL;
    int images = 0;
    CHECK(stspi_open_image_list(&lsu, &il));
    while ((st = stspi_list_image(il, &ii)) == STS_EOK) images++;
    EXPECT(st, STS_ENOMORE);
    CHECK(stspi_close_image_list(il));
    if (images != 1) return 1;

    CHECK(stspi_delete_image(&lsu, &def, 0));
    EXPECT(stspi_get_image_prop_byname(&lsu, &def, &ii), STS_ENOMORE);
    vastost_stats_t stats;
    CHECK(vastost_get_stats(&stats));
    if (stats.vs_budget_peak > stats.vs_budget_total) return 1;
    CHECK(stspi_close_server(server));
    CHECK(stspi_terminate());
    EXPECT(stspi_open_server("VastData:small", NULL, &server), STS_ENOTINIT);
    printf("smoke: ok (plugin %s)\n", vastost_version());
    return 0;
}
