/* test-gpu-name.c: one name per GPU model (drivers/gpu-name.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fleet.h"
#include "driver.h"

static void
same(const char *raw, int vram, const char *want)
{
	char	*got = drv_gpu_name(raw, vram);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* What each provider calls a model comes out as one name. */
static void
test_providers_agree(void **state __unused)
{
	same("A100 80GB PCIe", 80, "A100 80GB PCIe");		/* RunPod */
	same("A100 PCIE", 80, "A100 80GB PCIe");		/* Vast */
	same("A100-80G", 80, "A100 80GB");			/* Paperspace */
	same("A100 (40 GB SXM4)", 40, "A100 40GB SXM4");	/* Lambda */
	same("A100 SXM4", 40, "A100 40GB SXM4");		/* Vast */
	same("H100 (80 GB SXM5)", 80, "H100 80GB SXM5");
	same("H100 80GB HBM3", 80, "H100 80GB HBM3");
	same("NVIDIA GeForce RTX 4090", 24, "RTX 4090");
	same("RTX 4090", 24, "RTX 4090");
	same("A6000 (48 GB)", 48, "RTX A6000");			/* Lambda */
	same("RTX A6000", 48, "RTX A6000");
	same("Tesla V100 (16 GB)", 16, "V100 16GB");
	same("8x A100 (80 GB SXM4)", 80, "A100 80GB SXM4");
	same("H200 SXM", 141, "H200 SXM");
}

/* Odd input is kept or shortened, never a crash or an empty name. */
static void
test_odd_input(void **state __unused)
{
	char	*s;

	assert_null(drv_gpu_name(NULL, 0));
	assert_null(drv_gpu_name("", 0));
	same("()", 0, "()");
	same("A100", 0, "A100");
	same("local", 0, "local");
	same("12x ", 0, "12x ");
	s = drv_gpu_name("A100 999999999999GB", 0);
	assert_non_null(s);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_providers_agree),
		cmocka_unit_test(test_odd_input),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
