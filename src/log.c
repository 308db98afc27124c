/* stub: not written yet */
typedef int trg_stub_src_log_c;
