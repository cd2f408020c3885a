//! One module per IBSI feature family, each implementing [`crate::FeatureFamily`].

pub mod glcm;
pub mod glrlm;
pub mod histogram;
pub mod ivh;
pub mod local_intensity;
pub mod morphology;
pub mod ngldm;
pub mod ngtdm;
pub mod statistics;
pub mod texture;
pub mod zones;

use crate::FeatureFamily;

/// Every family in output order.
pub fn all() -> Vec<Box<dyn FeatureFamily>> {
    vec![
        Box::new(morphology::Morphology),
        Box::new(local_intensity::LocalIntensity),
        Box::new(statistics::Statistics),
        Box::new(histogram::Histogram),
        Box::new(ivh::Ivh),
        Box::new(glcm::Glcm),
        Box::new(glrlm::Glrlm),
        Box::new(zones::Glszm),
        Box::new(zones::Gldzm),
        Box::new(ngtdm::Ngtdm),
        Box::new(ngldm::Ngldm),
    ]
}
