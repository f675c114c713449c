/* Start-up code of the SoC's firmware: the RAM image is loaded whole (nothing to copy). */
    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    la      sp, __stack_top
    /* zero .bss */
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sw      zero, 0(t0)
    addi    t0, t0, 4
    j       1b
2:  call    main
    /* the return value is the exit code: sysctl EXIT */
    li      t0, 0x80000000
    sw      a0, 0x0C(t0)
3:  j       3b
