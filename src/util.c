/* stub: not written yet */
typedef int trg_stub_src_util_c;
