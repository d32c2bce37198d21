/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The DSDT of Terrarium's PC board, compiled by iasl at build time. It
 * describes what the fixed tables cannot: the PCI host bridge with its
 * windows and interrupt routing (_PRT through four PIIX3 link devices
 * whose PIRQ route registers the OS programs through _SRS), the ISA
 * devices, and the S5 sleep type that powers the machine off. The power
 * button is the fixed-feature one (FADT), so it needs no device here.
 */
DefinitionBlock ("", "DSDT", 2, "TRRIUM", "TERRARIM", 1)
{
    Name (_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })

    Scope (\_SB)
    {
        /* A link's PIRQ route register: bit 7 set = not routed. */
        Method (LSTA, 1, NotSerialized)
        {
            If (Arg0 & 0x80)
            {
                Return (0x09)
            }
            Return (0x0B)
        }

        Method (LCRS, 1, Serialized)
        {
            Name (BUF, ResourceTemplate ()
            {
                Interrupt (ResourceConsumer, Level, ActiveHigh, Shared, , , ) { 0 }
            })
            CreateDWordField (BUF, 0x05, IRQV)
            If (!(Arg0 & 0x80))
            {
                IRQV = Arg0 & 0x0F
            }
            Return (BUF)
        }

        Device (PCI0)
        {
            Name (_HID, EisaId ("PNP0A03"))
            Name (_UID, Zero)
            Name (_CRS, ResourceTemplate ()
            {
                WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
                    0x0000, 0x0000, 0x00FF, 0x0000, 0x0100, , , )
                IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08, )
                WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
                    0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8, , , , TypeStatic, DenseTranslation)
                WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
                    0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300, , , , TypeStatic, DenseTranslation)
                DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite,
                    0x00000000, 0x000A0000, 0x000BFFFF, 0x00000000, 0x00020000, , , , AddressRangeMemory, TypeStatic)
                DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
                    0x00000000, 0xC0000000, 0xFEBFFFFF, 0x00000000, 0x3EC00000, , , , AddressRangeMemory, TypeStatic)
            })

            Name (_PRT, Package ()
            {
                Package () { 0x0001FFFF, 0, LNKA, 0 },
                Package () { 0x0001FFFF, 1, LNKB, 0 },
                Package () { 0x0001FFFF, 2, LNKC, 0 },
                Package () { 0x0001FFFF, 3, LNKD, 0 },
                Package () { 0x0002FFFF, 0, LNKB, 0 },
                Package () { 0x0002FFFF, 1, LNKC, 0 },
                Package () { 0x0002FFFF, 2, LNKD, 0 },
                Package () { 0x0002FFFF, 3, LNKA, 0 },
                Package () { 0x0003FFFF, 0, LNKC, 0 },
                Package () { 0x0003FFFF, 1, LNKD, 0 },
                Package () { 0x0003FFFF, 2, LNKA, 0 },
                Package () { 0x0003FFFF, 3, LNKB, 0 },
                Package () { 0x0004FFFF, 0, LNKD, 0 },
                Package () { 0x0004FFFF, 1, LNKA, 0 },
                Package () { 0x0004FFFF, 2, LNKB, 0 },
                Package () { 0x0004FFFF, 3, LNKC, 0 },
                Package () { 0x0005FFFF, 0, LNKA, 0 },
                Package () { 0x0005FFFF, 1, LNKB, 0 },
                Package () { 0x0005FFFF, 2, LNKC, 0 },
                Package () { 0x0005FFFF, 3, LNKD, 0 },
                Package () { 0x0006FFFF, 0, LNKB, 0 },
                Package () { 0x0006FFFF, 1, LNKC, 0 },
                Package () { 0x0006FFFF, 2, LNKD, 0 },
                Package () { 0x0006FFFF, 3, LNKA, 0 },
                Package () { 0x0007FFFF, 0, LNKC, 0 },
                Package () { 0x0007FFFF, 1, LNKD, 0 },
                Package () { 0x0007FFFF, 2, LNKA, 0 },
                Package () { 0x0007FFFF, 3, LNKB, 0 },
                Package () { 0x0008FFFF, 0, LNKD, 0 },
                Package () { 0x0008FFFF, 1, LNKA, 0 },
                Package () { 0x0008FFFF, 2, LNKB, 0 },
                Package () { 0x0008FFFF, 3, LNKC, 0 },
                Package () { 0x0009FFFF, 0, LNKA, 0 },
                Package () { 0x0009FFFF, 1, LNKB, 0 },
                Package () { 0x0009FFFF, 2, LNKC, 0 },
                Package () { 0x0009FFFF, 3, LNKD, 0 },
                Package () { 0x000AFFFF, 0, LNKB, 0 },
                Package () { 0x000AFFFF, 1, LNKC, 0 },
                Package () { 0x000AFFFF, 2, LNKD, 0 },
                Package () { 0x000AFFFF, 3, LNKA, 0 },
                Package () { 0x000BFFFF, 0, LNKC, 0 },
                Package () { 0x000BFFFF, 1, LNKD, 0 },
                Package () { 0x000BFFFF, 2, LNKA, 0 },
                Package () { 0x000BFFFF, 3, LNKB, 0 },
                Package () { 0x000CFFFF, 0, LNKD, 0 },
                Package () { 0x000CFFFF, 1, LNKA, 0 },
                Package () { 0x000CFFFF, 2, LNKB, 0 },
                Package () { 0x000CFFFF, 3, LNKC, 0 },
                Package () { 0x000DFFFF, 0, LNKA, 0 },
                Package () { 0x000DFFFF, 1, LNKB, 0 },
                Package () { 0x000DFFFF, 2, LNKC, 0 },
                Package () { 0x000DFFFF, 3, LNKD, 0 },
                Package () { 0x000EFFFF, 0, LNKB, 0 },
                Package () { 0x000EFFFF, 1, LNKC, 0 },
                Package () { 0x000EFFFF, 2, LNKD, 0 },
                Package () { 0x000EFFFF, 3, LNKA, 0 },
                Package () { 0x000FFFFF, 0, LNKC, 0 },
                Package () { 0x000FFFFF, 1, LNKD, 0 },
                Package () { 0x000FFFFF, 2, LNKA, 0 },
                Package () { 0x000FFFFF, 3, LNKB, 0 },
                Package () { 0x0010FFFF, 0, LNKD, 0 },
                Package () { 0x0010FFFF, 1, LNKA, 0 },
                Package () { 0x0010FFFF, 2, LNKB, 0 },
                Package () { 0x0010FFFF, 3, LNKC, 0 },
                Package () { 0x0011FFFF, 0, LNKA, 0 },
                Package () { 0x0011FFFF, 1, LNKB, 0 },
                Package () { 0x0011FFFF, 2, LNKC, 0 },
                Package () { 0x0011FFFF, 3, LNKD, 0 },
                Package () { 0x0012FFFF, 0, LNKB, 0 },
                Package () { 0x0012FFFF, 1, LNKC, 0 },
                Package () { 0x0012FFFF, 2, LNKD, 0 },
                Package () { 0x0012FFFF, 3, LNKA, 0 },
                Package () { 0x0013FFFF, 0, LNKC, 0 },
                Package () { 0x0013FFFF, 1, LNKD, 0 },
                Package () { 0x0013FFFF, 2, LNKA, 0 },
                Package () { 0x0013FFFF, 3, LNKB, 0 },
                Package () { 0x0014FFFF, 0, LNKD, 0 },
                Package () { 0x0014FFFF, 1, LNKA, 0 },
                Package () { 0x0014FFFF, 2, LNKB, 0 },
                Package () { 0x0014FFFF, 3, LNKC, 0 },
                Package () { 0x0015FFFF, 0, LNKA, 0 },
                Package () { 0x0015FFFF, 1, LNKB, 0 },
                Package () { 0x0015FFFF, 2, LNKC, 0 },
                Package () { 0x0015FFFF, 3, LNKD, 0 },
                Package () { 0x0016FFFF, 0, LNKB, 0 },
                Package () { 0x0016FFFF, 1, LNKC, 0 },
                Package () { 0x0016FFFF, 2, LNKD, 0 },
                Package () { 0x0016FFFF, 3, LNKA, 0 },
                Package () { 0x0017FFFF, 0, LNKC, 0 },
                Package () { 0x0017FFFF, 1, LNKD, 0 },
                Package () { 0x0017FFFF, 2, LNKA, 0 },
                Package () { 0x0017FFFF, 3, LNKB, 0 },
                Package () { 0x0018FFFF, 0, LNKD, 0 },
                Package () { 0x0018FFFF, 1, LNKA, 0 },
                Package () { 0x0018FFFF, 2, LNKB, 0 },
                Package () { 0x0018FFFF, 3, LNKC, 0 },
                Package () { 0x0019FFFF, 0, LNKA, 0 },
                Package () { 0x0019FFFF, 1, LNKB, 0 },
                Package () { 0x0019FFFF, 2, LNKC, 0 },
                Package () { 0x0019FFFF, 3, LNKD, 0 },
                Package () { 0x001AFFFF, 0, LNKB, 0 },
                Package () { 0x001AFFFF, 1, LNKC, 0 },
                Package () { 0x001AFFFF, 2, LNKD, 0 },
                Package () { 0x001AFFFF, 3, LNKA, 0 },
                Package () { 0x001BFFFF, 0, LNKC, 0 },
                Package () { 0x001BFFFF, 1, LNKD, 0 },
                Package () { 0x001BFFFF, 2, LNKA, 0 },
                Package () { 0x001BFFFF, 3, LNKB, 0 },
                Package () { 0x001CFFFF, 0, LNKD, 0 },
                Package () { 0x001CFFFF, 1, LNKA, 0 },
                Package () { 0x001CFFFF, 2, LNKB, 0 },
                Package () { 0x001CFFFF, 3, LNKC, 0 },
                Package () { 0x001DFFFF, 0, LNKA, 0 },
                Package () { 0x001DFFFF, 1, LNKB, 0 },
                Package () { 0x001DFFFF, 2, LNKC, 0 },
                Package () { 0x001DFFFF, 3, LNKD, 0 },
                Package () { 0x001EFFFF, 0, LNKB, 0 },
                Package () { 0x001EFFFF, 1, LNKC, 0 },
                Package () { 0x001EFFFF, 2, LNKD, 0 },
                Package () { 0x001EFFFF, 3, LNKA, 0 },
                Package () { 0x001FFFFF, 0, LNKC, 0 },
                Package () { 0x001FFFFF, 1, LNKD, 0 },
                Package () { 0x001FFFFF, 2, LNKA, 0 },
                Package () { 0x001FFFFF, 3, LNKB, 0 }
            })

            Device (ISA)
            {
                Name (_ADR, 0x00010000)
                OperationRegion (PIRQ, PCI_Config, 0x60, 0x04)
                Field (PIRQ, ByteAcc, NoLock, Preserve)
                {
                    PRQA, 8,
                    PRQB, 8,
                    PRQC, 8,
                    PRQD, 8
                }

                Device (KBD)
                {
                    Name (_HID, EisaId ("PNP0303"))
                    Name (_CRS, ResourceTemplate ()
                    {
                        IO (Decode16, 0x0060, 0x0060, 0x01, 0x01, )
                        IO (Decode16, 0x0064, 0x0064, 0x01, 0x01, )
                        IRQNoFlags () { 1 }
                    })
                }

                Device (MOU)
                {
                    Name (_HID, EisaId ("PNP0F13"))
                    Name (_CRS, ResourceTemplate ()
                    {
                        IRQNoFlags () { 12 }
                    })
                }

                Device (RTC)
                {
                    Name (_HID, EisaId ("PNP0B00"))
                    Name (_CRS, ResourceTemplate ()
                    {
                        IO (Decode16, 0x0070, 0x0070, 0x01, 0x02, )
                        IRQNoFlags () { 8 }
                    })
                }

                Device (COM1)
                {
                    Name (_HID, EisaId ("PNP0501"))
                    Name (_UID, One)
                    Name (_CRS, ResourceTemplate ()
                    {
                        IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08, )
                        IRQNoFlags () { 4 }
                    })
                }
            }
        }

        Device (LNKA)
        {
            Name (_HID, EisaId ("PNP0C0F"))
            Name (_UID, 1)
            Name (_PRS, ResourceTemplate ()
            {
                Interrupt (ResourceConsumer, Level, ActiveHigh, Shared, , , ) { 5, 10, 11 }
            })
            Method (_STA, 0, NotSerialized)
            {
                Return (LSTA (\_SB.PCI0.ISA.PRQA))
            }
            Method (_DIS, 0, NotSerialized)
            {
                \_SB.PCI0.ISA.PRQA |= 0x80
            }
            Method (_CRS, 0, NotSerialized)
            {
                Return (LCRS (\_SB.PCI0.ISA.PRQA))
            }
            Method (_SRS, 1, NotSerialized)
            {
                CreateDWordField (Arg0, 0x05, IRQV)
                \_SB.PCI0.ISA.PRQA = IRQV
            }
        }

        Device (LNKB)
        {
            Name (_HID, EisaId ("PNP0C0F"))
            Name (_UID, 2)
            Name (_PRS, ResourceTemplate ()
            {
                Interrupt (ResourceConsumer, Level, ActiveHigh, Shared, , , ) { 5, 10, 11 }
            })
            Method (_STA, 0, NotSerialized)
            {
                Return (LSTA (\_SB.PCI0.ISA.PRQB))
            }
            Method (_DIS, 0, NotSerialized)
            {
                \_SB.PCI0.ISA.PRQB |= 0x80
            }
            Method (_CRS, 0, NotSerialized)
            {
                Return (LCRS (\_SB.PCI0.ISA.PRQB))
            }
            Method (_SRS, 1, NotSerialized)
            {
                CreateDWordField (Arg0, 0x05, IRQV)
                \_SB.PCI0.ISA.PRQB = IRQV
            }
        }

        Device (LNKC)
        {
            Name (_HID, EisaId ("PNP0C0F"))
            Name (_UID, 3)
            Name (_PRS, ResourceTemplate ()
            {
                Interrupt (ResourceConsumer, Level, ActiveHigh, Shared, , , ) { 5, 10, 11 }
            })
            Method (_STA, 0, NotSerialized)
            {
                Return (LSTA (\_SB.PCI0.ISA.PRQC))
            }
            Method (_DIS, 0, NotSerialized)
            {
                \_SB.PCI0.ISA.PRQC |= 0x80
            }
            Method (_CRS, 0, NotSerialized)
            {
                Return (LCRS (\_SB.PCI0.ISA.PRQC))
            }
            Method (_SRS, 1, NotSerialized)
            {
                CreateDWordField (Arg0, 0x05, IRQV)
                \_SB.PCI0.ISA.PRQC = IRQV
            }
        }

        Device (LNKD)
        {
            Name (_HID, EisaId ("PNP0C0F"))
            Name (_UID, 4)
            Name (_PRS, ResourceTemplate ()
            {
                Interrupt (ResourceConsumer, Level, ActiveHigh, Shared, , , ) { 5, 10, 11 }
            })
            Method (_STA, 0, NotSerialized)
            {
                Return (LSTA (\_SB.PCI0.ISA.PRQD))
            }
            Method (_DIS, 0, NotSerialized)
            {
                \_SB.PCI0.ISA.PRQD |= 0x80
            }
            Method (_CRS, 0, NotSerialized)
            {
                Return (LCRS (\_SB.PCI0.ISA.PRQD))
            }
            Method (_SRS, 1, NotSerialized)
            {
                CreateDWordField (Arg0, 0x05, IRQV)
                \_SB.PCI0.ISA.PRQD = IRQV
            }
        }
    }
}
