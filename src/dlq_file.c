/* stub: not written yet */
typedef int trg_stub_src_dlq_file_c;
