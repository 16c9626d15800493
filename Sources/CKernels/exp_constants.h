// Constants of the Cephes expf used by every exp variant (see CKernels.h).
#ifndef CK_EXP_CONSTANTS_H
#define CK_EXP_CONSTANTS_H
#define CK_EXP_LO (-87.3f)
#define CK_EXP_HI 88.7f
#define CK_EXP_MAGIC 12582912.0f          /* 1.5 · 2^23 */
#define CK_EXP_LOG2E 1.44269504f
#define CK_EXP_LN2_HI 0.693359375f        /* ln 2 in two parts: x − n·ln 2 without cancellation */
#define CK_EXP_LN2_LO (-2.12194440e-4f)
#define CK_EXP_P0 1.9875691500e-4f
#define CK_EXP_P1 1.3981999507e-3f
#define CK_EXP_P2 8.3334519073e-3f
#define CK_EXP_P3 4.1665795894e-2f
#define CK_EXP_P4 1.6666665459e-1f
#define CK_EXP_P5 5.0000001201e-1f
#endif
