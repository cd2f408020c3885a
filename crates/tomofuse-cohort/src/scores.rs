//! Clinical severity scores computed from a case's clinical columns, exactly as defined in the
//! original papers (see docs/cohorts.md for citations). Inputs use conventional US units:
//! temperature C, heart rate /min, respiratory rate /min, WBC 10^3/uL, BUN mg/dL, glucose mg/dL,
//! LDH and AST IU/L, calcium mg/dL.
//!
//! These check the generator (tests, `examples/cohort_stats.rs`) without depending on the
//! fusion crate; the study reports tomofuse-fusion's scores. The two were written
//! independently, and the orchestrator's tests assert that they agree on every synthetic case.

use crate::case::Case;

/// Number of SIRS criteria met (0-4): temperature < 36 or > 38 C; heart rate > 90/min;
/// respiratory rate > 20/min; WBC < 4 or > 12 x 10^3/uL. (PaCO2 and bands are not recorded
/// here, so those alternatives are not used.)
pub fn sirs_count(temp_c: f64, hr: f64, rr: f64, wbc: f64) -> u8 {
    u8::from(!(36.0..=38.0).contains(&temp_c))
        + u8::from(hr > 90.0)
        + u8::from(rr > 20.0)
        + u8::from(!(4.0..=12.0).contains(&wbc))
}

/// BISAP (Wu et al., Gut 2008), 0-5: BUN > 25 mg/dL; impaired mental status (GCS < 15);
/// SIRS (>= 2 criteria); age > 60; pleural effusion.
pub fn bisap(bun: f64, gcs: f64, sirs: u8, age: f64, pleural_effusion: bool) -> u8 {
    u8::from(bun > 25.0)
        + u8::from(gcs < 15.0)
        + u8::from(sirs >= 2)
        + u8::from(age > 60.0)
        + u8::from(pleural_effusion)
}

/// Ranson's admission criteria (Ranson 1974 non-gallstone; Ranson 1979 gallstone), 0-5.
/// The 48-hour criteria are not available at admission and are not counted.
pub fn ranson_admission(
    age: f64,
    wbc: f64,
    glucose: f64,
    ldh: f64,
    ast: f64,
    gallstone: bool,
) -> u8 {
    let (a, w, g, l) = if gallstone {
        (70.0, 18.0, 220.0, 400.0)
    } else {
        (55.0, 16.0, 200.0, 350.0)
    };
    u8::from(age > a)
        + u8::from(wbc > w)
        + u8::from(glucose > g)
        + u8::from(ldh > l)
        + u8::from(ast > 250.0)
}

/// Modified CT severity index (Mortele et al., AJR 2004), 0-10: inflammation 0 (normal),
/// 2 (intrinsic pancreatic abnormality), 4 (fluid collection or peripancreatic fat necrosis);
/// necrosis 0 (none), 2 (<= 30%), 4 (> 30%); extrapancreatic complication 2.
pub fn mctsi(
    pancreas_abnormal: bool,
    fluid_collection: bool,
    necrosis_pct: f64,
    extrapancreatic: bool,
) -> u8 {
    let infl = if fluid_collection {
        4
    } else if pancreas_abnormal {
        2
    } else {
        0
    };
    let nec = if necrosis_pct <= 0.0 {
        0
    } else if necrosis_pct <= 30.0 {
        2
    } else {
        4
    };
    infl + nec + if extrapancreatic { 2 } else { 0 }
}

fn get(c: &Case, k: &str) -> Option<f64> {
    c.num(k)
}

/// SIRS count from a case's `temp_c`, `hr`, `rr`, `wbc` columns.
pub fn case_sirs(c: &Case) -> Option<u8> {
    Some(sirs_count(
        get(c, "temp_c")?,
        get(c, "hr")?,
        get(c, "rr")?,
        get(c, "wbc")?,
    ))
}

/// BISAP from `bun`, `gcs`, SIRS columns, `age`, `pleural_effusion`.
pub fn case_bisap(c: &Case) -> Option<u8> {
    Some(bisap(
        get(c, "bun")?,
        get(c, "gcs")?,
        case_sirs(c)?,
        get(c, "age")?,
        get(c, "pleural_effusion")? != 0.0,
    ))
}

/// Ranson admission score from `age`, `wbc`, `glucose`, `ldh`, `ast`, `gallstone`.
pub fn case_ranson(c: &Case) -> Option<u8> {
    Some(ranson_admission(
        get(c, "age")?,
        get(c, "wbc")?,
        get(c, "glucose")?,
        get(c, "ldh")?,
        get(c, "ast")?,
        get(c, "gallstone")? != 0.0,
    ))
}

/// MCTSI from the report columns `ct_pancreas_abnormal`, `ct_fluid_collection`,
/// `ct_necrosis_pct`, and `pleural_effusion` / `ct_ascites` as extrapancreatic complications.
pub fn case_mctsi(c: &Case) -> Option<u8> {
    Some(mctsi(
        get(c, "ct_pancreas_abnormal")? != 0.0,
        get(c, "ct_fluid_collection")? != 0.0,
        get(c, "ct_necrosis_pct")?,
        get(c, "pleural_effusion")? != 0.0 || get(c, "ct_ascites")? != 0.0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Worked examples from the score definitions (CLINICAL.md / original papers).
    #[test]
    fn sirs_thresholds_are_strict() {
        assert_eq!(sirs_count(37.0, 90.0, 20.0, 12.0), 0); // all exactly at the limits
        assert_eq!(sirs_count(38.1, 91.0, 21.0, 12.1), 4);
        assert_eq!(sirs_count(35.9, 80.0, 16.0, 3.9), 2);
    }

    #[test]
    fn bisap_examples() {
        // 70-year-old, BUN 30, GCS 14, SIRS 2 criteria, effusion: 5 points.
        assert_eq!(bisap(30.0, 14.0, 2, 70.0, true), 5);
        // BUN exactly 25, age exactly 60, one SIRS criterion: 0 points.
        assert_eq!(bisap(25.0, 15.0, 1, 60.0, false), 0);
    }

    #[test]
    fn ranson_gallstone_vs_not() {
        // Age 60, WBC 17, glucose 210, LDH 380, AST 300:
        // non-gallstone: age>55, WBC>16, glucose>200, LDH>350, AST>250 = 5;
        // gallstone: only AST>250 = 1.
        assert_eq!(ranson_admission(60.0, 17.0, 210.0, 380.0, 300.0, false), 5);
        assert_eq!(ranson_admission(60.0, 17.0, 210.0, 380.0, 300.0, true), 1);
    }

    #[test]
    fn mctsi_examples() {
        assert_eq!(mctsi(false, false, 0.0, false), 0);
        assert_eq!(mctsi(true, false, 0.0, false), 2);
        assert_eq!(mctsi(true, true, 30.0, false), 6);
        assert_eq!(mctsi(true, true, 31.0, true), 10);
    }
}
