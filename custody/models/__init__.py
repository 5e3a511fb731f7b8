from custody.models.coldchain import (
    ColdChainAnalysis,
    ContainerType,
    ExcursionDeviation,
    ReadingBatch,
    Shipment,
    ShipmentLeg,
    TemperatureReading,
)
from custody.models.custody import CustodyEvent, ScanRefusal
from custody.models.patients import (
    ClinicalIdentity,
    ClinicalIdentityAccess,
    DinCounter,
    Order,
    OrderStatusChange,
    Patient,
    Product,
)

__all__ = [
    "ClinicalIdentity", "ClinicalIdentityAccess", "ColdChainAnalysis", "ContainerType",
    "CustodyEvent",
    "DinCounter", "ExcursionDeviation", "Order", "OrderStatusChange", "Patient", "Product",
    "ReadingBatch", "ScanRefusal", "Shipment", "ShipmentLeg", "TemperatureReading",
]
