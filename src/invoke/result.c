/* stub: not written yet */
typedef int trg_stub_src_invoke_result_c;
