/* decode.c: to be written. */
typedef int sortlens_placeholder_decode;
